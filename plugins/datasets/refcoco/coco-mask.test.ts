import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataError } from '../../../core/errors.js';
import { ROOT } from '../../../test/fixtures.js';
import {
  annToMask,
  annToRle,
  compressRle,
  crisMaskPng,
  decompressRle,
  referPartCounts,
  rleArea,
  rleDecode,
  rleEncode,
  rleFromBbox,
  rleFromPolygon,
  rleFromString,
  rleMerge,
  rleToBbox,
  rleToString,
  segmentationParts,
  type Rle,
} from './coco-mask.js';

interface PolyRef {
  h: number;
  w: number;
  poly: number[];
  counts: number[];
  string: string;
  area: number;
  bbox: number[];
}
interface AnnRef {
  h: number;
  w: number;
  segmentation: number[][];
  parts: number[][];
  union: number[];
  unionString: string;
  referCounts: number[];
}
interface Ref {
  polygons: PolyRef[];
  boxes: { h: number; w: number; box: number[]; counts: number[] }[];
  anns: AnnRef[];
  merges: { h: number; w: number; a: number[]; b: number[]; union: number[]; intersection: number[] }[];
  encodes: { h: number; w: number; mask: number[] | null; counts: number[]; string: string }[];
}

// test/reference/coco-mask.json: made by pycocotools 2.0.11 (scripts/reference/make_coco_mask_refs.py).
const ref = JSON.parse(readFileSync(join(ROOT, 'test', 'reference', 'coco-mask.json'), 'utf8')) as Ref;
const rle = (h: number, w: number, counts: number[]): Rle => ({ size: [h, w], counts });

/** Row-major mask from a picture: '#' = 1. */
function picture(rows: string[]): Uint8Array {
  return Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0));
}

describe('polygon rasterisation vs pycocotools', () => {
  it(`all ${ref.polygons.length} reference polygons give pycocotools' RLE, string, area and bbox`, () => {
    expect(ref.polygons.length).toBeGreaterThan(180);
    for (const [i, p] of ref.polygons.entries()) {
      const r = rleFromPolygon(p.poly, p.h, p.w);
      expect(r.counts, `polygon ${i} ${JSON.stringify(p.poly).slice(0, 80)} in ${p.h}×${p.w}`).toEqual(p.counts);
      expect(rleToString(r), `polygon ${i}`).toBe(p.string);
      expect(rleArea(r), `polygon ${i}`).toBe(p.area);
      expect(rleToBbox(r), `polygon ${i}`).toEqual(p.bbox);
    }
  });

  it('boxes (rleFrBbox)', () => {
    for (const b of ref.boxes) expect(rleFromBbox(b.box, b.h, b.w).counts, JSON.stringify(b.box)).toEqual(b.counts);
  });

  it('hand-checked: the square (0,0)-(10,10) covers pixels 0..9, the half-pixel square pixels 3..7', () => {
    const sq = rleDecode(rleFromPolygon([0, 0, 10, 0, 10, 10, 0, 10], 12, 12));
    for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) expect(sq[y * 12 + x], `${x},${y}`).toBe(x < 10 && y < 10 ? 1 : 0);
    // Edges at 2.5 / 7.5 become 13 / 38 in fifths of a pixel; column x is sampled at 5x + 2,
    // so columns (and rows) 3..7 are inside: 5 pixels, not the 4 whose centres x + 0.5 are inside.
    const half = rleDecode(rleFromPolygon([2.5, 2.5, 7.5, 2.5, 7.5, 7.5, 2.5, 7.5], 10, 10));
    expect(half).toEqual(
      picture(['..........', '..........', '..........', '...#####..', '...#####..', '...#####..', '...#####..', '...#####..', '..........', '..........']),
    );
  });

  it('hand-checked: a right triangle, a bow-tie and degenerate polygons', () => {
    // Pixel (x, y) is tested near (x + 0.5, y + 0.5); centres exactly on the hypotenuse x + y = 6 stay out.
    const tri = rleDecode(rleFromPolygon([0, 0, 6, 0, 0, 6], 6, 6));
    expect(tri).toEqual(picture(['#####.', '####..', '###...', '##....', '#.....', '......']));
    // Self-intersecting outlines fill by parity: the left and right triangles of the bow-tie.
    const bowtie = rleDecode(rleFromPolygon([0, 0, 6, 6, 6, 0, 0, 6], 6, 6));
    expect(bowtie).toEqual(picture(['#....#', '##..##', '######', '##..##', '#....#', '......']));
    expect(rleFromPolygon([3, 3], 5, 5).counts).toEqual([25]); // one point
    expect(rleFromPolygon([], 5, 5).counts).toEqual([25]); // no point
    expect(rleFromPolygon([1, 1, 2, 2, 3, 3], 5, 5).counts).toEqual([25]); // collinear
    expect(() => rleFromPolygon([1, Number.NaN, 2, 2, 3, 1], 5, 5)).toThrow(DataError);
  });
});

describe('annotations (annToRLE / annToMask / REFER getMask) vs pycocotools', () => {
  it('parts, union and REFER part counts', () => {
    for (const [i, a] of ref.anns.entries()) {
      const parts = segmentationParts(a.segmentation, a.h, a.w);
      expect(parts.map((p) => p.counts), `ann ${i}`).toEqual(a.parts);
      const union = annToRle(a.segmentation, a.h, a.w);
      expect(union.counts, `ann ${i}`).toEqual(a.union);
      expect(rleToString(union)).toBe(a.unionString);
      const mask = annToMask(a.segmentation, a.h, a.w);
      expect(mask).toEqual(rleDecode(union));
      const counts = referPartCounts(a.segmentation, a.h, a.w);
      expect([...counts], `ann ${i}`).toEqual(a.referCounts);
      // Union = nonzero part count.
      for (let p = 0; p < mask.length; p++) expect(mask[p]).toBe(counts[p]! > 0 ? 1 : 0);
    }
  });

  it('the official CRIS mask PNG: 255 for one part, 254 for two, 253 for three', () => {
    const triple = ref.anns[1]!;
    const png = crisMaskPng(triple.segmentation, triple.h, triple.w);
    expect(new Set(png)).toEqual(new Set([0, 253]));
    const two = ref.anns[0]!;
    expect(new Set(crisMaskPng(two.segmentation, two.h, two.w))).toEqual(new Set([0, 255, 254]));
  });

  it('RLE segmentations (uncompressed and compressed) and pycocotools failure cases', () => {
    const a = ref.anns[0]!;
    const u = rle(a.h, a.w, a.union);
    expect(annToMask(u, a.h, a.w)).toEqual(annToMask(a.segmentation, a.h, a.w));
    expect(annToMask({ size: [a.h, a.w], counts: a.unionString }, a.h, a.w)).toEqual(annToMask(a.segmentation, a.h, a.w));
    expect(() => annToMask(u, a.h + 1, a.w)).toThrow(/differs from the image size/);
    expect(() => annToMask({ size: [2, 2], counts: [1, 2] }, 2, 2)).toThrow(/add up to 3/);
    // pycocotools fails on a polygon list whose first part has ≤ 4 numbers.
    expect(() => annToMask([[1, 1, 5, 5], [1, 1, 6, 1, 6, 6]], 10, 10)).toThrow(/more than 4/);
    expect(() => annToMask([[1, 1, 5]], 10, 10)).toThrow(DataError);
    // An empty polygon list (pycocotools: IndexError) is an empty mask here.
    expect(annToMask([], 3, 4)).toEqual(new Uint8Array(12));
  });
});

describe('RLE coding vs pycocotools', () => {
  it('encode / string / decode round trips', () => {
    for (const [i, e] of ref.encodes.entries()) {
      const r = rle(e.h, e.w, e.counts);
      expect(rleToString(r), `encode ${i}`).toBe(e.string);
      expect(rleFromString(e.string, e.h, e.w).counts, `encode ${i}`).toEqual(e.counts);
      const m = rleDecode(r);
      if (e.mask) expect([...m], `encode ${i}`).toEqual(e.mask);
      expect(rleEncode(m, e.h, e.w).counts, `encode ${i}`).toEqual(e.counts);
      expect(decompressRle(compressRle(r))).toEqual(r);
    }
  });

  it('merge (union and intersection) equals the bitwise operations', () => {
    for (const [i, m] of ref.merges.entries()) {
      const a = rle(m.h, m.w, m.a);
      const b = rle(m.h, m.w, m.b);
      expect(rleMerge([a, b]).counts, `merge ${i}`).toEqual(m.union);
      expect(rleMerge([a, b], true).counts, `merge ${i}`).toEqual(m.intersection);
      const da = rleDecode(a);
      const db = rleDecode(b);
      expect(rleDecode(rleMerge([a, b]))).toEqual(da.map((v, p) => v | db[p]!));
    }
    expect(() => rleMerge([rle(1, 2, [2]), rle(2, 1, [2])])).toThrow(DataError);
  });

  it('random masks: encode → string → decode is the identity; bboxes match the pixels', () => {
    let seed = 99;
    const rand = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
    for (let t = 0; t < 200; t++) {
      const h = 1 + Math.floor(rand() * 30);
      const w = 1 + Math.floor(rand() * 30);
      const p = rand();
      const mask = Uint8Array.from({ length: h * w }, () => (rand() < p ? 1 : 0));
      const r = rleEncode(mask, h, w);
      expect(rleDecode(rleFromString(rleToString(r), h, w))).toEqual(mask);
      let x0 = w, y0 = h, x1 = -1, y1 = -1, area = 0;
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (mask[y * w + x]) {
        area++;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
      expect(rleArea(r)).toBe(area);
      expect(rleToBbox(r)).toEqual(area ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0]);
    }
  });

  it('rejects malformed compressed strings', () => {
    expect(() => rleFromString('0P', 2, 2)).toThrow(/ends inside a number/);
    expect(() => rleFromString('0 ', 2, 2)).toThrow(/outside/);
    expect(() => rleFromString('5', 2, 2)).toThrow(/add up to 5/);
  });
});
