"""Minimal safetensors writer for reference files (no dependency beyond torch/numpy)."""
import json, struct
import numpy as np

_DT = {np.float32: 'F32', np.int64: 'I64', np.int32: 'I32', np.float16: 'F16', np.uint8: 'U8'}


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = t.detach().cpu().numpy() if hasattr(t, 'detach') else np.asarray(t)
        a = np.ascontiguousarray(a).reshape(a.shape)
        dt = _DT[a.dtype.type]
        b = a.tobytes()
        header[name] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
