"""Reference values for core/vision (OpenCV 4.6 warps and letterbox matrices, PyTorch 1.13 bicubic / sigmoid).

Run: /usr/bin/python3 scripts/reference/make_vision_refs.py
Writes test/reference/vision.safetensors (small: a few hundred KB).

Cases beyond the parity fixture (eval_post): odd sizes and aspect ratios (portrait, landscape,
tiny sources, 1-pixel images), non-square network inputs, rotations/shears whose taps cross the
border, non-zero and per-channel border values, multi-channel float maps, every interpolation
mode the emulation supports.

Metadata (JSON):
  letterbox: [{h, w, in_h, in_w, forward, inverse}]  exact float64 matrices from cv2.getAffineTransform
             with the official float32 point pairs (RefDataset.getTransformMat)
  warps:     [{name, src, dst_h, dst_w, interpolation, border, matrix, inverse_map}]
             input tensor named by `src` (shared), output `warp/<name>/out`; matrices exact float64
  resize:    [{name, in_h, in_w, out_h, out_w, align_corners}] with `resize/<name>/in|out`
  sigmoid:   `sigmoid/in`, `sigmoid/out` (length a multiple of 16: PyTorch's vectorised path)
  normalize: `normalize/in` uint8 HWC, `normalize/out` float32 CHW (official convert())
"""
import json
import os
import sys

import cv2
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
from st import save  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
rng = np.random.default_rng(20240611)
torch.manual_seed(0)
out, meta = {}, {'letterbox': [], 'warps': [], 'resize': []}
CLIP_BORDER = [0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255]
INTER = {'nearest': cv2.INTER_NEAREST, 'linear': cv2.INTER_LINEAR, 'cubic': cv2.INTER_CUBIC}


def letterbox(h, w, in_h, in_w):
    """The official RefDataset.getTransformMat (facts: float32 point pairs, getAffineTransform both ways)."""
    scale = min(in_h / h, in_w / w)
    nh, nw = h * scale, w * scale
    bx, by = (in_w - nw) / 2., (in_h - nh) / 2.
    src = np.array([[0, 0], [w, 0], [0, h]], np.float32)
    dst = np.array([[bx, by], [nw + bx, by], [bx, nh + by]], np.float32)
    return cv2.getAffineTransform(src, dst), cv2.getAffineTransform(dst, src)


for (h, w, in_h, in_w) in [
    (120, 180, 96, 96), (200, 90, 96, 96), (13, 9, 96, 96), (64, 250, 96, 96), (150, 40, 96, 96),
    (480, 640, 416, 416), (427, 640, 416, 416), (333, 500, 416, 416), (375, 500, 416, 416),
    (612, 612, 416, 416), (291, 640, 416, 416), (640, 291, 416, 416), (1, 1, 416, 416),
    (7, 1000, 416, 416), (1000, 3, 480, 480), (2, 3, 5, 5), (100, 100, 64, 96), (100, 50, 96, 64),
    (37, 73, 31, 57), (480, 640, 480, 480), (416, 416, 416, 416), (1024, 768, 320, 320),
]:
    fwd, inv = letterbox(h, w, in_h, in_w)
    meta['letterbox'].append({'h': h, 'w': w, 'in_h': in_h, 'in_w': in_w, 'forward': fwd.tolist(), 'inverse': inv.tolist()})


def rot(angle, scale, tx, ty):
    a = np.deg2rad(angle)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]], np.float64)


def add_warp(name, src, m, dst_h, dst_w, interpolation, border, inverse_map=False):
    flags = INTER[interpolation] | (cv2.WARP_INVERSE_MAP if inverse_map else 0)
    res = cv2.warpAffine(src, m, (dst_w, dst_h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    # Sources shared by several warps are stored once.
    src_name = next((k for k, v in out.items() if k.startswith('src/') and v.dtype == src.dtype and v.shape == src.shape and np.array_equal(v, src)), None)
    if src_name is None:
        src_name = f'src/{name}'
        out[src_name] = src
    out[f'warp/{name}/out'] = res
    meta['warps'].append({'name': name, 'src': src_name, 'dst_h': dst_h, 'dst_w': dst_w, 'interpolation': interpolation,
                          'border': border, 'matrix': np.asarray(m, np.float64).tolist(), 'inverse_map': inverse_map})


def smooth_map(h, w, c=None):
    """A smooth random map in [0, 1] (like an upsampled probability) plus a little noise."""
    base = torch.rand(1, 1 if c is None else c, max(2, h // 8), max(2, w // 8))
    m = F.interpolate(base, size=(h, w), mode='bicubic', align_corners=True)[0]
    m = (m + 0.05 * torch.randn_like(m)).clamp(0, 1).numpy().astype(np.float32)
    return m[0] if c is None else np.ascontiguousarray(m.transpose(1, 2, 0))


# Float maps: the evaluation's inverse letterbox (cubic, border 0) for odd original sizes.
S = 48
prob = smooth_map(S, S)
for (h, w) in [(61, 47), (47, 61), (13, 9), (9, 13), (1, 1), (1, 7), (7, 1), (3, 200), (200, 3), (33, 33), (5, 120)]:
    _, inv = letterbox(h, w, S, S)
    add_warp(f'eval_{h}x{w}', prob, inv, h, w, 'cubic', 0.0)
    add_warp(f'eval_linear_{h}x{w}', prob, inv, h, w, 'linear', 0.0)
# Float maps, general matrices: rotation, shear, up/down-scaling, non-zero border, 3 channels, nearest.
fmap = smooth_map(23, 31)
add_warp('f32_rot_cubic', fmap, rot(17, 1.3, 4.2, -6.7), 29, 37, 'cubic', 0.25)
add_warp('f32_rot_linear', fmap, rot(-33, 0.8, 12.5, 3.1), 29, 37, 'linear', -1.5)
add_warp('f32_rot_nearest', fmap, rot(48, 1.1, 2.0, 1.0), 29, 37, 'nearest', 0.75)
add_warp('f32_shear_cubic_inv', fmap, np.array([[0.9, 0.31, -3.3], [-0.12, 1.07, 2.6]]), 27, 19, 'cubic', 0.0, inverse_map=True)
add_warp('f32_down_cubic', fmap, rot(0, 0.37, 0.4, 0.2), 9, 12, 'cubic', 0.0)
add_warp('f32_tiny_src_cubic', smooth_map(2, 3), rot(5, 4.0, 1.0, 1.0), 11, 13, 'cubic', 0.1)
add_warp('f32_3ch_cubic', smooth_map(17, 14, 3), rot(9, 1.6, -2.0, 3.0), 21, 25, 'cubic', [0.1, 0.2, 0.3])
add_warp('f32_3ch_linear', smooth_map(17, 14, 3), rot(-21, 1.2, 5.0, -1.0), 21, 25, 'linear', [0.5, -0.5, 2.0])

# uint8 images: the train-time letterbox (cubic, CLIP border) and mask (linear, 0), odd sizes.
S = 40
for (h, w) in [(30, 52), (52, 30), (13, 9), (1, 1), (2, 3), (3, 2), (4, 4), (41, 40), (7, 90), (90, 7)]:
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (3, 3), 0) if min(h, w) >= 3 else img  # image-like but with sharp edges left
    mask = (rng.random((h, w)) < 0.4).astype(np.uint8) * 255
    fwd, _ = letterbox(h, w, S, S)
    add_warp(f'u8_img_{h}x{w}', img, fwd, S, S, 'cubic', CLIP_BORDER)
    add_warp(f'u8_mask_{h}x{w}', mask, fwd, S, S, 'linear', 0.0)
gray = rng.integers(0, 256, size=(19, 23), dtype=np.uint8)
rgb = rng.integers(0, 256, size=(19, 23, 3), dtype=np.uint8)
add_warp('u8_gray_rot_cubic', gray, rot(23, 1.4, 3.0, -4.0), 25, 27, 'cubic', 17.6)
add_warp('u8_gray_rot_linear', gray, rot(-41, 0.9, 9.0, 2.0), 25, 27, 'linear', 200.5)
add_warp('u8_gray_rot_nearest', gray, rot(12, 1.2, 1.0, 1.0), 25, 27, 'nearest', 99)
add_warp('u8_rgb_rot_cubic', rgb, rot(-7, 2.1, -5.0, -3.0), 31, 29, 'cubic', [10.5, 255.7, -3])
add_warp('u8_rgb_rot_linear', rgb, rot(61, 0.7, 14.0, 2.0), 31, 29, 'linear', [1, 2, 3])
add_warp('u8_rgb_scalar_border', rgb, rot(30, 1.0, 10.0, -5.0), 20, 20, 'cubic', 50.0)
add_warp('u8_rgb_inverse_map', rgb, np.array([[0.52, -0.2, 3.3], [0.15, 0.61, -1.7]]), 26, 24, 'cubic', [9, 8, 7], inverse_map=True)
# Extreme contrast: cubic overshoot must saturate at 0 and 255.
checker = ((np.indices((12, 12)).sum(0) % 2) * 255).astype(np.uint8)
add_warp('u8_checker_cubic', checker, rot(3, 2.3, 0.3, 0.7), 26, 26, 'cubic', 0.0)

# PyTorch bicubic (and the official align_corners=True case) for odd shapes.
for (ih, iw, oh, ow, ac) in [(24, 24, 64, 64, True), (7, 5, 33, 20, True), (1, 6, 4, 9, True), (13, 11, 52, 48, True),
                             (6, 1, 9, 4, True), (9, 8, 3, 5, True), (24, 24, 40, 40, False), (7, 5, 33, 20, False),
                             (30, 7, 7, 16, False), (5, 5, 5, 5, True), (3, 4, 1, 1, True)]:
    name = f'{ih}x{iw}_{oh}x{ow}_{"ac" if ac else "hp"}'
    x = torch.randn(1, 1, ih, iw) * 3
    y = F.interpolate(x, size=(oh, ow), mode='bicubic', align_corners=ac)
    out[f'resize/{name}/in'] = x[0, 0]
    out[f'resize/{name}/out'] = y[0, 0]
    meta['resize'].append({'name': name, 'in_h': ih, 'in_w': iw, 'out_h': oh, 'out_w': ow, 'align_corners': ac})

logits = torch.cat([torch.randn(1500) * 6, torch.linspace(-110, 110, 500), torch.tensor([0., -0., 88.7, -88.7, 100., -104., 104., -103.99] * 2)])
logits = logits[: (len(logits) // 16) * 16]
out['sigmoid/in'] = logits
out['sigmoid/out'] = torch.sigmoid(logits)

img = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
t = torch.from_numpy(img.transpose((2, 0, 1))).float()
mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).reshape(3, 1, 1)
std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).reshape(3, 1, 1)
t.div_(255.).sub_(mean).div_(std)
out['normalize/in'] = img
out['normalize/out'] = t

meta['versions'] = {'cv2': cv2.__version__, 'torch': torch.__version__, 'numpy': np.__version__}
path = os.path.join(ROOT, 'test', 'reference', 'vision.safetensors')
save(path, out, {k: json.dumps(v) for k, v in meta.items()})
print('wrote', path, os.path.getsize(path), 'bytes,', len(out), 'tensors')
