/**
 * COCO masks exactly as pycocotools' mask API (common/maskApi.c) makes them:
 * polygon rasterisation (`rleFrPoly`), boxes (`rleFrBbox`), run-length
 * encoding (uncompressed `{size, counts: number[]}` and the compressed string
 * form), merge (union / intersection), area and bounding box, and the
 * annotation-level helpers `annToRLE` / `annToMask` of pycocotools' COCO class.
 *
 * Conventions: RLE runs are column-major (Fortran order, as COCO stores them)
 * and start with a run of zeros (possibly empty); decoded masks here are
 * row-major Uint8Array [h·w] with 0/1, index y·w + x.
 *
 * The polygon rasteriser, in words: vertices are scaled by 5 and rounded
 * ((int)(5·v + 0.5), truncation toward zero), the closed outline is walked
 * with a DDA line between consecutive vertices (one point per step of the
 * longer axis, the other coordinate rounded the same way), and wherever the
 * upsampled x steps across a column's sample position 5·x + 2 the crossing
 * gives a row ceil((v + 0.5)/5 − 0.5), clipped to [0, h]. Sorted crossing
 * positions in column-major order, differenced, are the RLE (equal crossings
 * cancel, so self-intersecting outlines fill by parity). In effect pixel
 * (x, y) is sampled near (x + 0.4, y + 0.4) against the outline snapped to
 * 1/5 pixel: a square with edges at 2.5 and 7.5 covers pixels 3..7.
 *
 * Checked against pycocotools 2.0.11 itself (test/reference/coco-mask.json,
 * scripts/reference/make_coco_mask_refs.py): every count, string, area, box,
 * merge and REFER part count identical.
 */
import { DataError } from '../../../core/errors.js';

/** Uncompressed RLE as in COCO JSON: size [height, width], column-major run lengths. */
export interface Rle {
  size: [number, number];
  counts: number[];
}

/** Compressed RLE (pycocotools' string encoding of the counts). */
export interface CompressedRle {
  size: [number, number];
  counts: string;
}

/** A COCO `segmentation` field: polygons [[x0, y0, x1, y1, ...], ...] or an RLE. */
export type CocoSegmentation = readonly (readonly number[])[] | Rle | CompressedRle;

/** [x, y, width, height] */
export type BBox = [number, number, number, number];

const SCALE = 5;

function checkSize(h: number, w: number, what: string): void {
  if (!Number.isSafeInteger(h) || !Number.isSafeInteger(w) || h < 0 || w < 0) {
    throw new DataError(`${what}: image size must be non-negative integers, got ${h}×${w}`);
  }
}

/** C's (int) cast of a finite double: truncation toward zero. */
const toInt = (v: number) => Math.trunc(v);

/**
 * `rleFrPoly`: rasterise one polygon [x0, y0, x1, y1, ...] (pixel coordinates,
 * pixel centres at integers) into an h×w RLE. An odd trailing coordinate is
 * ignored, as pycocotools does (it passes len/2 points).
 */
export function rleFromPolygon(xy: readonly number[], h: number, w: number): Rle {
  checkSize(h, w, 'polygon');
  const k = Math.floor(xy.length / 2);
  for (let i = 0; i < 2 * k; i++) {
    if (!Number.isFinite(xy[i])) throw new DataError(`polygon coordinate ${i} is ${xy[i]}, expected a finite number`);
  }
  // Upsampled, rounded vertices (closed: vertex k repeats vertex 0).
  const x = new Array<number>(k + 1);
  const y = new Array<number>(k + 1);
  for (let j = 0; j < k; j++) {
    x[j] = toInt(SCALE * xy[2 * j]! + 0.5);
    y[j] = toInt(SCALE * xy[2 * j + 1]! + 0.5);
  }
  // (For k = 0 pycocotools reads uninitialised memory here but produces no points either.)
  x[k] = x[0]!;
  y[k] = y[0]!;
  // Dense boundary points along every edge.
  const u: number[] = [];
  const v: number[] = [];
  for (let j = 0; j < k; j++) {
    let xs = x[j]!, xe = x[j + 1]!, ys = y[j]!, ye = y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    if (dx >= dy) {
      // dx = dy = 0 (a repeated vertex) gives one point whose row is never read.
      const s = dx === 0 ? 0 : (ye - ys) / dx;
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u.push(t + xs);
        v.push(toInt(ys + s * t + 0.5));
      }
    } else {
      const s = (xe - xs) / dy;
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v.push(t + ys);
        u.push(toInt(xs + s * t + 0.5));
      }
    }
  }
  // Crossings of column centres, downsampled to pixel rows.
  const starts: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / SCALE - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / SCALE - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    starts.push(toInt(xd) * h + toInt(yd));
  }
  starts.push(h * w);
  starts.sort((a, b) => a - b);
  // Differences; a zero-length run merges the two runs around it (equal crossings cancel).
  let prev = 0;
  for (let j = 0; j < starts.length; j++) {
    const t = starts[j]!;
    starts[j] = t - prev;
    prev = t;
  }
  const counts = [starts[0]!];
  for (let j = 1; j < starts.length; ) {
    if (starts[j]! > 0) counts.push(starts[j++]!);
    else {
      j++;
      if (j < starts.length) counts[counts.length - 1] += starts[j++]!;
    }
  }
  return { size: [h, w], counts };
}

/** `rleFrBbox`: the box [x, y, bw, bh] as the polygon (x, y), (x, y+bh), (x+bw, y+bh), (x+bw, y). */
export function rleFromBbox(bb: readonly number[], h: number, w: number): Rle {
  if (bb.length !== 4) throw new DataError(`a box needs 4 numbers [x, y, width, height], got ${bb.length}`);
  const [xs, ys, bw, bh] = bb as [number, number, number, number];
  const xe = xs + bw;
  const ye = ys + bh;
  return rleFromPolygon([xs, ys, xs, ye, xe, ye, xe, ys], h, w);
}

/** Check an RLE: non-negative integer counts that cover exactly h·w pixels. */
export function checkRle(rle: Rle, what = 'RLE'): void {
  const [h, w] = rle.size;
  checkSize(h, w, what);
  let sum = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const c = rle.counts[i]!;
    if (!Number.isSafeInteger(c) || c < 0) throw new DataError(`${what}: counts[${i}] is ${c}, expected a non-negative integer`);
    sum += c;
  }
  if (sum !== h * w) throw new DataError(`${what}: counts add up to ${sum} pixels but size ${h}×${w} has ${h * w}`);
}

/** `rleEncode` of a row-major mask (nonzero = 1). */
export function rleEncode(mask: ArrayLike<number>, h: number, w: number): Rle {
  checkSize(h, w, 'rleEncode');
  if (mask.length !== h * w) throw new DataError(`rleEncode: a ${h}×${w} mask needs ${h * w} values, got ${mask.length}`);
  const counts: number[] = [];
  let p = 0;
  let c = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0; y < h; y++) {
      const b = mask[y * w + x] !== 0 ? 1 : 0;
      if (b !== p) {
        counts.push(c);
        c = 0;
        p = b;
      }
      c++;
    }
  }
  counts.push(c);
  return { size: [h, w], counts };
}

/** `rleDecode` to a row-major 0/1 mask. */
export function rleDecode(rle: Rle): Uint8Array {
  checkRle(rle);
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  let x = 0; // column-major walk
  let y = 0;
  let val = 0;
  for (const c of rle.counts) {
    if (val) {
      for (let k = 0; k < c; k++) {
        out[y * w + x] = 1;
        if (++y === h) {
          y = 0;
          x++;
        }
      }
    } else {
      const i = x * h + y + c;
      x = Math.floor(i / h);
      y = i - x * h;
    }
    val ^= 1;
  }
  return out;
}

/**
 * `rleToString`: pycocotools' compressed counts, a LEB128-like code with 5
 * data bits per character (offset 48, bit 0x20 = more follows, sign from bit
 * 0x10 of the last group); counts after the third are stored as differences
 * from the count two before.
 */
export function rleToString(rle: Rle): string {
  const cnts = rle.counts;
  let s = '';
  for (let i = 0; i < cnts.length; i++) {
    let x = cnts[i]!;
    if (i > 2) x -= cnts[i - 2]!;
    for (let more = true; more; ) {
      let c = ((x % 32) + 32) % 32; // x & 0x1f in two's complement
      x = Math.floor(x / 32); // arithmetic shift
      more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      s += String.fromCharCode(c + 48);
    }
  }
  return s;
}

/** `rleFrString`: decode compressed counts (size is not part of the string). */
export function rleFromString(s: string, h: number, w: number): Rle {
  checkSize(h, w, 'compressed RLE');
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    for (let more = true; more; ) {
      if (p >= s.length) throw new DataError(`compressed RLE "${s.slice(0, 40)}…" ends inside a number`);
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new DataError(`compressed RLE has character ${JSON.stringify(s[p])} at ${p}, outside "0".."o"`);
      x += (c & 0x1f) * 32 ** k;
      more = (c & 0x20) !== 0;
      p++;
      k++;
      if (!more && c & 0x10) x -= 32 ** k; // sign-extend the last group
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    counts.push(x);
  }
  const rle: Rle = { size: [h, w], counts };
  checkRle(rle, 'compressed RLE');
  return rle;
}

export function compressRle(rle: Rle): CompressedRle {
  return { size: [rle.size[0], rle.size[1]], counts: rleToString(rle) };
}

export function decompressRle(rle: CompressedRle): Rle {
  return rleFromString(rle.counts, rle.size[0], rle.size[1]);
}

/** `rleMerge`: union (default) or intersection of RLEs of one size. */
export function rleMerge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { size: [0, 0], counts: [] };
  const [h, w] = rles[0]!.size;
  if (rles.length === 1) return { size: [h, w], counts: [...rles[0]!.counts] };
  let acc = rles[0]!.counts.slice();
  for (let i = 1; i < rles.length; i++) {
    const b = rles[i]!;
    if (b.size[0] !== h || b.size[1] !== w) throw new DataError(`rleMerge: RLE ${i} is ${b.size[0]}×${b.size[1]}, the first is ${h}×${w}`);
    const a = acc;
    const out: number[] = [];
    let ca = a[0] ?? 0, cb = b.counts[0] ?? 0;
    let va = false, vb = false, v = false;
    let ia = 1, ib = 1, cc = 0;
    for (let ct = 1; ct > 0; ) {
      const c = Math.min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && ia < a.length) {
        ca = a[ia++]!;
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && ib < b.counts.length) {
        cb = b.counts[ib++]!;
        vb = !vb;
      }
      ct += cb;
      const vp: boolean = v;
      v = intersect ? va && vb : va || vb;
      if (v !== vp || ct === 0) {
        out.push(cc);
        cc = 0;
      }
    }
    acc = out;
  }
  return { size: [h, w], counts: acc };
}

/** `rleArea`: number of foreground pixels. */
export function rleArea(rle: Rle): number {
  let a = 0;
  for (let j = 1; j < rle.counts.length; j += 2) a += rle.counts[j]!;
  return a;
}

/** `rleToBbox`: [x, y, width, height] of the foreground, [0, 0, 0, 0] when empty. */
export function rleToBbox(rle: Rle): BBox {
  const [h] = rle.size;
  const m = Math.floor(rle.counts.length / 2) * 2;
  if (m === 0 || h === 0) return [0, 0, 0, 0];
  let xs = rle.size[1], ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (let j = 0; j < m; j++) {
    cc += rle.counts[j]!;
    const t = cc - (j % 2);
    const y = t % h;
    const x = (t - y) / h;
    if (j % 2 === 0) xp = x;
    else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = Math.min(xs, x);
    xe = Math.max(xe, x);
    ys = Math.min(ys, y);
    ye = Math.max(ye, y);
  }
  return [xs, ys, xe - xs + 1, ye - ys + 1];
}

function isPolygons(segm: CocoSegmentation): segm is readonly (readonly number[])[] {
  return Array.isArray(segm);
}

/**
 * One RLE per polygon part (pycocotools `frPyObjects(polygons, h, w)`), or
 * the annotation's RLE. pycocotools reads a polygon list whose first part has
 * exactly 4 numbers as boxes and then fails; that is a DataError here.
 */
export function segmentationParts(segm: CocoSegmentation, h: number, w: number, what = 'segmentation'): Rle[] {
  checkSize(h, w, what);
  if (isPolygons(segm)) {
    if (segm.length === 0) return [];
    const first = segm[0]!;
    if (!Array.isArray(first)) throw new DataError(`${what}: expected a list of polygons [[x0, y0, ...], ...]`);
    if (first.length <= 4) {
      throw new DataError(`${what}: the first polygon has ${first.length} numbers; pycocotools needs more than 4 (it takes 4 as a box list and fails)`);
    }
    return segm.map((p, i) => {
      if (!Array.isArray(p)) throw new DataError(`${what}: part ${i} is not a list of coordinates`);
      return rleFromPolygon(p, h, w);
    });
  }
  return [segmentationRle(segm, h, w, what)];
}

function segmentationRle(segm: Rle | CompressedRle, h: number, w: number, what: string): Rle {
  if (typeof segm !== 'object' || segm === null || !Array.isArray(segm.size) || segm.size.length !== 2) {
    throw new DataError(`${what}: expected polygons or an RLE {size: [h, w], counts}`);
  }
  const [rh, rw] = segm.size;
  if (rh !== h || rw !== w) throw new DataError(`${what}: RLE size ${rh}×${rw} differs from the image size ${h}×${w}`);
  if (typeof segm.counts === 'string') return rleFromString(segm.counts, rh, rw);
  if (!Array.isArray(segm.counts)) throw new DataError(`${what}: RLE counts must be a string or a list of numbers`);
  const rle: Rle = { size: [rh, rw], counts: [...segm.counts] };
  checkRle(rle, what);
  return rle;
}

/**
 * pycocotools `COCO.annToRLE`: polygon parts merged (union) into one RLE; RLEs
 * as they are. An empty polygon list (pycocotools: IndexError) is an empty mask.
 */
export function annToRle(segm: CocoSegmentation, h: number, w: number, what = 'segmentation'): Rle {
  const parts = segmentationParts(segm, h, w, what);
  if (parts.length === 0) return { size: [h, w], counts: h * w > 0 ? [h * w] : [] };
  return rleMerge(parts);
}

/** pycocotools `COCO.annToMask`: the union of all parts, row-major 0/1 [h·w]. */
export function annToMask(segm: CocoSegmentation, h: number, w: number, what = 'segmentation'): Uint8Array {
  return rleDecode(annToRle(segm, h, w, what));
}

/**
 * REFER's `getMask(ref)['mask']`: the per-pixel number of polygon parts
 * covering the pixel (`np.sum(decode(parts), axis=2).astype(uint8)`, so
 * overlaps count 2, 3, ... modulo 256). Loaders that keep `mask == 1`
 * (LAVT-style) drop overlaps; CRIS/ETRIS/BarLeRIa keep every nonzero pixel.
 */
export function referPartCounts(segm: CocoSegmentation, h: number, w: number, what = 'segmentation'): Uint8Array {
  const out = new Uint8Array(h * w);
  for (const part of segmentationParts(segm, h, w, what)) {
    const m = rleDecode(part);
    for (let i = 0; i < m.length; i++) out[i] = (out[i]! + m[i]!) & 0xff;
  }
  return out;
}

/**
 * The mask PNG that the official CRIS/ETRIS/BarLeRIa data preparation
 * (`tools/data_process.py`) writes: `getMask(ref)['mask'] * 255` in uint8,
 * i.e. 255 for one part, 254 where two parts overlap, ... (255·n mod 256).
 * Training targets are this / 255; evaluation counts every nonzero pixel.
 */
export function crisMaskPng(segm: CocoSegmentation, h: number, w: number, what = 'segmentation'): Uint8Array {
  const counts = referPartCounts(segm, h, w, what);
  for (let i = 0; i < counts.length; i++) counts[i] = (counts[i]! * 255) & 0xff;
  return counts;
}
