"""What OpenCV 4.x decodes from test/reference/decode/* (the official RefDataset's
cv2.imdecode(buf, cv2.IMREAD_COLOR) then BGR->RGB): writes test/reference/decode/cv2.safetensors,
one uint8 [H, W, 3] tensor per file. Run after scripts/reference/make_decode_images.ts."""
import glob, os, sys
import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from st import save

DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'reference', 'decode')
tensors = {}
for path in sorted(glob.glob(os.path.join(DIR, '*.jpg')) + glob.glob(os.path.join(DIR, '*.png'))):
    buf = np.fromfile(path, np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    tensors[os.path.basename(path)] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
save(os.path.join(DIR, 'cv2.safetensors'), tensors, {'opencv': cv2.__version__, 'call': 'cvtColor(imdecode(buf, IMREAD_COLOR), BGR2RGB)'})
print('wrote', len(tensors), 'decodes with OpenCV', cv2.__version__)
