/**
 * A tiny RGB software rasteriser: textured backgrounds and anti-aliased polygon fills
 * (exact horizontal coverage on 4 sub-scanlines per pixel row). Pure and deterministic:
 * all randomness comes from the caller's Rng.
 */
import type { Rng } from '../../../core/nn/rng.js';
import { scanlineCrossings } from './geometry.js';
import type { BackgroundKind, RGB } from './vocabulary.js';

/** Float RGB image, row-major HWC, values in [0, 255]. */
export class Canvas {
  readonly data: Float32Array;
  constructor(
    readonly width: number,
    readonly height: number,
  ) {
    this.data = new Float32Array(width * height * 3);
  }

  /** Quantize to 8 bits, adding uniform luminance grain of +-`grain` levels per pixel. */
  toRgb8(rng: Rng, grain: number): Buffer {
    const n = this.width * this.height;
    const out = new Uint8ClampedArray(n * 3); // clamps, rounds half to even
    const d = this.data;
    const seed = Math.floor(rng.next() * 4294967296) >>> 0;
    const scale = (2 * grain) / 4294967296;
    for (let p = 0, o = 0; p < n; p++, o += 3) {
      // per-pixel hash of (seed, p): cheaper than a generator call, as deterministic
      let h = Math.imul(p ^ seed, 0x9e3779b1);
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
      h ^= h >>> 13;
      const g = (h >>> 0) * scale - grain;
      out[o] = d[o]! + g;
      out[o + 1] = d[o + 1]! + g;
      out[o + 2] = d[o + 2]! + g;
    }
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  }
}

export interface BackgroundSpec {
  kind: BackgroundKind;
  /** The two colours the texture mixes (equal for `plain`). */
  colors: [RGB, RGB];
  /** Texture parameters, recorded in scenes.json for reference. */
  params: Record<string, number>;
}

function hsvToRgb(h: number, s: number, v: number): RGB {
  const c = v * s;
  const hp = (((h % 360) + 360) % 360) / 60;
  const x = c * (1 - Math.abs((hp % 2) - 1));
  const [r, g, b] = hp < 1 ? [c, x, 0] : hp < 2 ? [x, c, 0] : hp < 3 ? [0, c, x] : hp < 4 ? [0, x, c] : hp < 5 ? [x, 0, c] : [c, 0, x];
  const m = v - c;
  return [Math.round((r + m) * 255), Math.round((g + m) * 255), Math.round((b + m) * 255)];
}

/**
 * Background colours: desaturated (saturation <= 0.2), mid-value (0.36..0.72), so that
 * every object colour of vocabulary.ts stands out from them.
 */
export function sampleBackground(rng: Rng, kind: BackgroundKind, width: number, height: number): BackgroundSpec {
  const hue = rng.uniform(0, 360);
  const v1 = rng.uniform(0.4, 0.68);
  const c1 = hsvToRgb(hue, rng.uniform(0, 0.2), v1);
  const dv = rng.uniform(0.1, 0.2) * (rng.next() < 0.5 ? -1 : 1);
  let v2 = v1 + dv;
  if (v2 < 0.36 || v2 > 0.72) v2 = v1 - dv;
  const c2 = hsvToRgb(hue + rng.uniform(-40, 40), rng.uniform(0, 0.2), Math.min(0.72, Math.max(0.36, v2)));
  const side = Math.min(width, height);
  const r2 = (v: number): number => Math.round(v * 100) / 100;
  switch (kind) {
    case 'plain':
      return { kind, colors: [c1, c1], params: {} };
    case 'gradient':
      return { kind, colors: [c1, c2], params: { angle: r2(rng.uniform(0, 2 * Math.PI)) } };
    case 'stripes':
      return { kind, colors: [c1, c2], params: { angle: r2(rng.uniform(0, Math.PI)), period: r2(rng.uniform(0.07, 0.18) * side), phase: r2(rng.next()) } };
    case 'checker':
      return { kind, colors: [c1, c2], params: { cell: Math.max(4, Math.round(rng.uniform(0.06, 0.15) * side)), ox: rng.int(32), oy: rng.int(32) } };
    case 'noise':
      return { kind, colors: [c1, c2], params: { cell: r2(rng.uniform(0.06, 0.2) * side), seed: rng.int(0x7fffffff) } };
  }
}

const smoothstep = (e0: number, e1: number, x: number): number => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

/** Hash of integer lattice coordinates to [0, 1) (value noise). */
function lattice(seed: number, i: number, j: number): number {
  let h = (Math.imul(i, 0x27d4eb2d) ^ Math.imul(j, 0x165667b1) ^ seed) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0) / 4294967296;
}

/** Fill the canvas with the background texture. */
export function paintBackground(canvas: Canvas, bg: BackgroundSpec): void {
  const { width: w, height: h, data } = canvas;
  const [a, b] = bg.colors;
  const p = bg.params;
  let mix: (x: number, y: number) => number;
  switch (bg.kind) {
    case 'plain':
      mix = () => 0;
      break;
    case 'gradient': {
      const dx = Math.cos(p.angle!);
      const dy = Math.sin(p.angle!);
      const corners = [0, w * dx, h * dy, w * dx + h * dy];
      const lo = Math.min(...corners);
      const hi = Math.max(...corners);
      mix = (x, y) => (x * dx + y * dy - lo) / (hi - lo);
      break;
    }
    case 'stripes': {
      const dx = Math.cos(p.angle!);
      const dy = Math.sin(p.angle!);
      mix = (x, y) => smoothstep(-0.35, 0.35, Math.sin(2 * Math.PI * ((x * dx + y * dy) / p.period! + p.phase!)));
      break;
    }
    case 'checker': {
      const c = p.cell!;
      mix = (x, y) => ((Math.floor((x + p.ox!) / c) + Math.floor((y + p.oy!) / c)) & 1);
      break;
    }
    case 'noise': {
      const c = p.cell!;
      const seed = p.seed! >>> 0;
      mix = (x, y) => {
        const gx = x / c;
        const gy = y / c;
        const i = Math.floor(gx);
        const j = Math.floor(gy);
        const fx = smoothstep(0, 1, gx - i);
        const fy = smoothstep(0, 1, gy - j);
        const top = lattice(seed, i, j) * (1 - fx) + lattice(seed, i + 1, j) * fx;
        const bot = lattice(seed, i, j + 1) * (1 - fx) + lattice(seed, i + 1, j + 1) * fx;
        return top * (1 - fy) + bot * fy;
      };
      break;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = mix(x + 0.5, y + 0.5);
      const o = (y * w + x) * 3;
      data[o] = a[0] + (b[0] - a[0]) * t;
      data[o + 1] = a[1] + (b[1] - a[1]) * t;
      data[o + 2] = a[2] + (b[2] - a[2]) * t;
    }
  }
}

/**
 * Composite a polygon of solid colour over the canvas with anti-aliasing: coverage
 * is exact along x and sampled at `subrows` sub-scanlines per pixel row.
 */
export function fillPolygon(canvas: Canvas, poly: readonly number[], color: RGB, subrows = 4): void {
  const { width: w, height: h, data } = canvas;
  let y0 = Infinity;
  let y1 = -Infinity;
  let x0 = Infinity;
  let x1 = -Infinity;
  for (let i = 0; i < poly.length; i += 2) {
    x0 = Math.min(x0, poly[i]!);
    x1 = Math.max(x1, poly[i]!);
    y0 = Math.min(y0, poly[i + 1]!);
    y1 = Math.max(y1, poly[i + 1]!);
  }
  const ix0 = Math.max(0, Math.floor(x0));
  const ix1 = Math.min(w, Math.ceil(x1));
  const iy0 = Math.max(0, Math.floor(y0));
  const iy1 = Math.min(h, Math.ceil(y1));
  if (ix1 <= ix0 || iy1 <= iy0) return;
  const cov = new Float32Array(ix1 - ix0);
  const xs: number[] = [];
  const wsub = 1 / subrows;
  for (let y = iy0; y < iy1; y++) {
    cov.fill(0);
    for (let s = 0; s < subrows; s++) {
      scanlineCrossings(poly, y + (s + 0.5) * wsub, xs);
      for (let k = 0; k + 1 < xs.length; k += 2) {
        const a = Math.max(ix0, xs[k]!);
        const b = Math.min(ix1, xs[k + 1]!);
        if (b <= a) continue;
        const pa = Math.floor(a);
        const pb = Math.floor(b);
        if (pa === pb) {
          cov[pa - ix0] += (b - a) * wsub;
          continue;
        }
        cov[pa - ix0] += (pa + 1 - a) * wsub;
        for (let p = pa + 1; p < pb; p++) cov[p - ix0] += wsub;
        if (pb < ix1) cov[pb - ix0] += (b - pb) * wsub;
      }
    }
    for (let x = ix0; x < ix1; x++) {
      const c = Math.min(1, cov[x - ix0]!);
      if (c <= 0) continue;
      const o = (y * w + x) * 3;
      data[o] = data[o]! * (1 - c) + color[0] * c;
      data[o + 1] = data[o + 1]! * (1 - c) + color[1] * c;
      data[o + 2] = data[o + 2]! * (1 - c) + color[2] * c;
    }
  }
}
