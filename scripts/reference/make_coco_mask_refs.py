"""Reference values for plugins/datasets/refcoco/coco-mask.ts from pycocotools itself.

Run with a Python that has pycocotools and numpy (the system python3 has neither pycocotools; a
throwaway venv from the local package mirror works):
    python3.11 -m venv /tmp/coco && /tmp/coco/bin/pip install pycocotools 'numpy<2'
    /tmp/coco/bin/python scripts/reference/make_coco_mask_refs.py
Writes test/reference/coco-mask.json:
  polygons: [{h, w, poly, counts, string, area, bbox}]    rleFrPoly of one part (counts column-major)
  boxes:    [{h, w, box, counts}]                          rleFrBbox
  anns:     [{h, w, segmentation, parts: [counts], union, referCounts}]
            union = annToRLE (merge), referCounts = REFER getMask 'mask' (np.sum(decode(parts), 2).astype(uint8)),
            stored row-major as a flat list (small images only)
  merges:   [{h, w, a, b, union, intersection}]
  encodes:  [{h, w, mask (row-major flat 0/1), counts, string}]  mask.encode of random bitmaps
"""
import json
import os

import numpy as np
import pycocotools
from pycocotools import mask as M

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
rng = np.random.default_rng(7)


def counts_of(rle):
    """Uncompressed counts of a pycocotools RLE (decode the string form through the C API)."""
    m = M.decode(rle)  # h×w Fortran
    flat = m.flatten(order='F')
    out, p, c = [], 0, 0
    for v in flat:
        if v != p:
            out.append(c)
            c, p = 0, v
        c += 1
    out.append(c)
    return out


def s(rle):
    c = rle['counts']
    return c.decode() if isinstance(c, bytes) else c


polygons = []


def add_poly(poly, h, w):
    rle = M.frPyObjects([list(map(float, poly))], h, w)[0]
    polygons.append({'h': h, 'w': w, 'poly': poly, 'counts': counts_of(rle), 'string': s(rle),
                     'area': int(M.area(rle)), 'bbox': [float(v) for v in M.toBbox(rle)]})


# Hand-made shapes: integer and half-integer squares, triangles, concave, self-intersecting,
# repeated and collinear vertices, sub-pixel polygons, shapes outside or across the border.
H, W = 20, 24
for poly in [
    [0, 0, 10, 0, 10, 10, 0, 10], [2.5, 2.5, 7.5, 2.5, 7.5, 7.5, 2.5, 7.5], [1, 1, 18, 3, 6, 17],
    [2, 2, 12, 2, 12, 5, 5, 5, 5, 15, 2, 15], [3, 3, 15, 15, 15, 3, 3, 15],
    [4, 4, 4, 4, 14, 4, 14, 4, 14, 14, 4, 14], [1, 1, 5, 5, 9, 9], [5.2, 5.3, 5.6, 5.4, 5.4, 5.9],
    [-5, -5, 8, -3, 6, 9, -4, 7], [15, 10, 40, 12, 30, 30, 14, 25], [-100, -100, 200, -100, 200, 200, -100, 200],
    [0.49, 0.51, 3.5, 0.5, 3.51, 3.49, 0.5, 3.5], [23.9, 0, 23.9, 19.9, 22.1, 19.9], [10, 0, 11, 0, 11, 20, 10, 20],
    [6, 6, 12, 6, 12, 12, 6, 12, 9, 9],  # odd count: the trailing 9 is ignored
    [0, 0, 24, 0, 24, 20, 0, 20], [-0.6, -0.6, 3.2, -0.4, 1.1, 2.7], [12.3, 4.1, 19.7, 9.9, 12.2, 16.8, 4.6, 9.8],
]:
    add_poly(poly, H, W)
for (h, w) in [(1, 1), (1, 5), (5, 1), (2, 3)]:
    add_poly([0, 0, w, 0, w, h, 0, h], h, w)
    add_poly([0.2, 0.1, w - 0.3, 0.4, w * 0.5, h - 0.2], h, w)
# Random COCO-like polygons (2-decimal coordinates, some beyond the image).
for i in range(160):
    h, w = int(rng.integers(1, 70)), int(rng.integers(1, 70))
    n = int(rng.integers(3, 25))
    if i % 3 == 0:  # star-shaped around a centre
        cx, cy = rng.uniform(-5, w + 5), rng.uniform(-5, h + 5)
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.3, 0.6 * max(h, w), n)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    else:  # arbitrary (often self-intersecting)
        pts = np.stack([rng.uniform(-0.2 * w, 1.2 * w, n), rng.uniform(-0.2 * h, 1.2 * h, n)], 1)
    poly = [round(float(v), 2) for v in pts.flatten()]
    add_poly(poly, h, w)

# A few COCO-sized annotations (640×480 images, many vertices).
for i in range(4):
    h, w = 480, 640
    n = int(rng.integers(20, 60))
    cx, cy = rng.uniform(100, 540), rng.uniform(100, 380)
    ang = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = rng.uniform(20, 250, n)
    pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    add_poly([round(float(v), 2) for v in pts.flatten()], h, w)

boxes = []
for (h, w, box) in [(20, 24, [2, 3, 10, 5]), (20, 24, [2.5, 3.5, 10.2, 5.7]), (20, 24, [-3, -3, 8, 8]),
                    (20, 24, [20, 15, 10, 10]), (20, 24, [0, 0, 24, 20]), (9, 7, [1.49, 1.51, 0.3, 0.3])]:
    rle = M.frPyObjects(np.array([box], np.double), h, w)[0]
    boxes.append({'h': h, 'w': w, 'box': box, 'counts': counts_of(rle)})

anns = []


def add_ann(segm, h, w):
    parts = M.frPyObjects(segm, h, w)
    union = M.merge(parts)
    dec = M.decode(parts)  # h×w×n
    refer = np.sum(dec, axis=2).astype(np.uint8)
    anns.append({'h': h, 'w': w, 'segmentation': segm, 'parts': [counts_of(p) for p in parts],
                 'union': counts_of(union), 'unionString': s(union), 'referCounts': refer.flatten().tolist()})


add_ann([[2, 2, 12, 2, 12, 12, 2, 12], [8, 8, 18, 8, 18, 16, 8, 16]], 20, 24)  # overlapping parts
add_ann([[2, 2, 12, 2, 12, 12, 2, 12], [2, 2, 12, 2, 12, 12, 2, 12], [2, 2, 12, 2, 12, 12, 2, 12]], 16, 16)  # triple overlap
add_ann([[1, 1, 6, 1, 6, 6, 1, 6], [9, 9, 14, 9, 14, 14]], 16, 16)  # disjoint
add_ann([[1, 1, 6, 1, 6, 6, 1, 6], [3, 3], []], 10, 10)  # later degenerate parts: one point, empty
add_ann([[1, 1, 6, 1, 6, 6, 1, 6], [2, 2, 5, 5]], 10, 10)  # a later 4-number part is a polygon
for i in range(12):
    h, w = int(rng.integers(4, 40)), int(rng.integers(4, 40))
    segm = []
    for _ in range(int(rng.integers(2, 5))):
        n = int(rng.integers(3, 9))
        segm.append([round(float(v), 2) for v in np.stack([rng.uniform(-2, w + 2, n), rng.uniform(-2, h + 2, n)], 1).flatten()])
    add_ann(segm, h, w)

merges = []
for i in range(10):
    h, w = int(rng.integers(1, 30)), int(rng.integers(1, 30))
    a = (rng.random((h, w)) < rng.uniform(0.1, 0.9)).astype(np.uint8)
    b = (rng.random((h, w)) < rng.uniform(0.1, 0.9)).astype(np.uint8)
    if i == 0:
        a[:] = 1
    if i == 1:
        b[:] = 0
    ra, rb = M.encode(np.asfortranarray(a)), M.encode(np.asfortranarray(b))
    merges.append({'h': h, 'w': w, 'a': counts_of(ra), 'b': counts_of(rb), 'union': counts_of(M.merge([ra, rb])),
                   'intersection': counts_of(M.merge([ra, rb], intersect=True))})

encodes = []
for i in range(12):
    h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    m = (rng.random((h, w)) < [0.0, 1.0, 0.02, 0.5, 0.98][i % 5]).astype(np.uint8)
    rle = M.encode(np.asfortranarray(m))
    encodes.append({'h': h, 'w': w, 'mask': m.flatten().tolist(), 'counts': counts_of(rle), 'string': s(rle)})
# Long runs (multi-character numbers, negative differences) in a large image.
big = np.zeros((480, 640), np.uint8)
big[100:380, 50:600] = 1
big[200:210, 300:310] = 0
rle = M.encode(np.asfortranarray(big))
encodes.append({'h': 480, 'w': 640, 'mask': None, 'counts': counts_of(rle), 'string': s(rle)})

path = os.path.join(ROOT, 'test', 'reference', 'coco-mask.json')
with open(path, 'w') as f:
    json.dump({'pycocotools': pycocotools.__version__ if hasattr(pycocotools, '__version__') else '2.0.11', 'numpy': np.__version__,
               'polygons': polygons, 'boxes': boxes, 'anns': anns, 'merges': merges, 'encodes': encodes}, f, separators=(',', ':'))
print('wrote', path, os.path.getsize(path), 'bytes')
