/**
 * Shape outlines as COCO polygons: flat `[x1, y1, x2, y2, ...]` in pixel coordinates
 * where pixel (i, j) covers [i, i+1] x [j, j+1] (so its centre is (i+.5, j+.5), as
 * pycocotools assumes). Coordinates are rounded to 2 decimals, and the rounded polygon
 * is both what is drawn and what is annotated.
 */
import type { ShapeName } from './vocabulary.js';

export interface ShapeGeometry {
  shape: ShapeName;
  /** Centre of the shape's bounding box, before rounding. */
  cx: number;
  cy: number;
  /** Circumradius in pixels (about half the bounding box's larger side). */
  r: number;
  /** Rotation in radians (clockwise on screen). */
  rot: number;
  /** Minor/major axis ratio, for ellipses only. */
  aspect: number;
}

/** Rotation range (radians, symmetric) per shape: small enough that a square never looks like a diamond. */
export const ROTATION_RANGE: Readonly<Record<ShapeName, number>> = {
  circle: 0,
  ellipse: Math.PI / 2,
  semicircle: 0.35,
  square: 0.26,
  triangle: 0.2,
  star: 0.3,
  hexagon: Math.PI / 6,
  diamond: 0.12,
  cross: 0.26,
  pentagon: 0.2,
};

const round2 = (v: number): number => Math.round(v * 100) / 100;

/** Unit-size outline (circumradius about 1, y down), before rotation, centred on its bounding box. */
function unitOutline(g: ShapeGeometry): [number, number][] {
  const ring = (n: number, r: number, start: number): [number, number][] =>
    Array.from({ length: n }, (_, i) => {
      const t = start + (2 * Math.PI * i) / n;
      return [r * Math.cos(t), r * Math.sin(t)];
    });
  // About one vertex per 2 px of perimeter, like hand-drawn COCO polygons but smoother.
  const arcVertices = Math.max(20, Math.min(72, Math.round((2 * Math.PI * g.r) / 2)));
  switch (g.shape) {
    case 'circle':
      return ring(arcVertices, 1, 0);
    case 'ellipse':
      return ring(arcVertices, 1, 0).map(([x, y]) => [x, y * g.aspect]);
    case 'semicircle': {
      const n = Math.max(10, Math.round(arcVertices / 2));
      const pts: [number, number][] = [];
      for (let i = 0; i <= n; i++) {
        const t = Math.PI + (Math.PI * i) / n; // upper half (y < 0)
        pts.push([Math.cos(t), Math.sin(t) + 0.5]);
      }
      return pts;
    }
    case 'square':
      return [[-0.74, -0.74], [0.74, -0.74], [0.74, 0.74], [-0.74, 0.74]];
    case 'triangle':
      return ring(3, 1.08, -Math.PI / 2).map(([x, y]) => [x, y + 0.27]);
    case 'star': {
      const pts: [number, number][] = [];
      for (let i = 0; i < 10; i++) {
        const r = i % 2 === 0 ? 1.08 : 0.46;
        const t = -Math.PI / 2 + (Math.PI * i) / 5;
        pts.push([r * Math.cos(t), r * Math.sin(t) + 0.1]);
      }
      return pts;
    }
    case 'hexagon':
      return ring(6, 0.98, 0);
    case 'pentagon':
      return ring(5, 1.0, -Math.PI / 2).map(([x, y]) => [x, y + 0.095]);
    case 'diamond':
      return [[0, -1.06], [0.7, 0], [0, 1.06], [-0.7, 0]];
    case 'cross': {
      const a = 0.33;
      const l = 0.95;
      return [
        [-a, -l], [a, -l], [a, -a], [l, -a], [l, a], [a, a],
        [a, l], [-a, l], [-a, a], [-l, a], [-l, -a], [-a, -a],
      ];
    }
  }
}

/** The shape's outline as a flat COCO polygon, coordinates rounded to 2 decimals. */
export function shapePolygon(g: ShapeGeometry): number[] {
  const c = Math.cos(g.rot);
  const s = Math.sin(g.rot);
  const out: number[] = [];
  for (const [x, y] of unitOutline(g)) {
    out.push(round2(g.cx + g.r * (c * x - s * y)), round2(g.cy + g.r * (s * x + c * y)));
  }
  return out;
}

/** [x, y, w, h] of a flat polygon (COCO bbox), rounded to 2 decimals. */
export function polygonBBox(poly: readonly number[]): [number, number, number, number] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < poly.length; i += 2) {
    x0 = Math.min(x0, poly[i]!);
    x1 = Math.max(x1, poly[i]!);
    y0 = Math.min(y0, poly[i + 1]!);
    y1 = Math.max(y1, poly[i + 1]!);
  }
  return [round2(x0), round2(y0), round2(x1 - x0), round2(y1 - y0)];
}

/** Shoelace area of a simple polygon. */
export function polygonArea(poly: readonly number[]): number {
  let a = 0;
  const n = poly.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    a += poly[2 * i]! * poly[2 * j + 1]! - poly[2 * j]! * poly[2 * i + 1]!;
  }
  return Math.abs(a) / 2;
}

/** Area centroid of a simple polygon (inside it for every shape here, unlike some bbox centres). */
export function polygonCentroid(poly: readonly number[]): [number, number] {
  let a = 0;
  let cx = 0;
  let cy = 0;
  const n = poly.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const x0 = poly[2 * i]!;
    const y0 = poly[2 * i + 1]!;
    const x1 = poly[2 * j]!;
    const y1 = poly[2 * j + 1]!;
    const cr = x0 * y1 - x1 * y0;
    a += cr;
    cx += (x0 + x1) * cr;
    cy += (y0 + y1) * cr;
  }
  return [cx / (3 * a), cy / (3 * a)];
}

/**
 * x coordinates where the horizontal line y crosses the polygon's edges, sorted
 * (half-open rule: an edge covers y in [min(y0, y1), max(y0, y1)), so vertices count once).
 */
export function scanlineCrossings(poly: readonly number[], y: number, out: number[] = []): number[] {
  out.length = 0;
  const n = poly.length / 2;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    const y0 = poly[2 * i + 1]!;
    const y1 = poly[2 * j + 1]!;
    if ((y0 <= y && y < y1) || (y1 <= y && y < y0)) {
      const x0 = poly[2 * i]!;
      const x1 = poly[2 * j]!;
      out.push(x0 + ((y - y0) * (x1 - x0)) / (y1 - y0));
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * Binary mask (row-major, h x w, 1 inside) of the pixels whose centres lie inside the
 * polygon (even-odd rule): what a COCO polygon decoder yields, up to pixels on the outline.
 */
export function polygonMask(poly: readonly number[], height: number, width: number): Uint8Array {
  const m = new Uint8Array(height * width);
  const xs: number[] = [];
  for (let j = 0; j < height; j++) {
    scanlineCrossings(poly, j + 0.5, xs);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      // pixel i is inside when xs[k] <= i + .5 < xs[k+1]
      const i0 = Math.max(0, Math.ceil(xs[k]! - 0.5));
      const i1 = Math.min(width, Math.ceil(xs[k + 1]! - 0.5));
      for (let i = i0; i < i1; i++) m[j * width + i] = 1;
    }
  }
  return m;
}

/** Number of pixels whose centres lie inside the polygon (COCO `area` of the instance). */
export function polygonPixelArea(poly: readonly number[], height: number, width: number): number {
  let n = 0;
  const m = polygonMask(poly, height, width);
  for (let i = 0; i < m.length; i++) n += m[i]!;
  return n;
}
