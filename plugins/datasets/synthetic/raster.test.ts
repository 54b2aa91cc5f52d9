import { describe, expect, it } from 'vitest';
import { Rng } from '../../../core/nn/rng.js';
import { ROTATION_RANGE, polygonArea, polygonBBox, polygonCentroid, polygonMask, polygonPixelArea, shapePolygon } from './geometry.js';
import { BACKGROUNDS, SHAPES } from './vocabulary.js';
import { Canvas, fillPolygon, paintBackground, sampleBackground } from './raster.js';

describe('geometry and rasteriser', () => {
  it('a pixel belongs to a polygon when its centre is inside (COCO convention)', () => {
    // the square [2, 5] x [1, 3] covers pixels x = 2..4, y = 1..2
    const sq = [2, 1, 5, 1, 5, 3, 2, 3];
    const m = polygonMask(sq, 4, 6);
    const on: string[] = [];
    for (let y = 0; y < 4; y++) for (let x = 0; x < 6; x++) if (m[y * 6 + x]) on.push(`${x},${y}`);
    expect(on).toEqual(['2,1', '3,1', '4,1', '2,2', '3,2', '4,2']);
    expect(polygonArea(sq)).toBe(6);
    expect(polygonBBox(sq)).toEqual([2, 1, 3, 2]);
    expect(polygonCentroid(sq)).toEqual([3.5, 2]);
  });

  it('every shape is a polygon about its centre, whose pixel area matches its area', () => {
    const rng = new Rng(2);
    for (const shape of SHAPES) {
      for (let k = 0; k < 20; k++) {
        const r = rng.uniform(8, 40);
        const g = { shape, cx: 60 + rng.next(), cy: 60 + rng.next(), r, rot: rng.uniform(-ROTATION_RANGE[shape], ROTATION_RANGE[shape]), aspect: rng.uniform(0.5, 0.62) };
        const poly = shapePolygon(g);
        for (const v of poly) expect(Math.round(v * 100) / 100).toBe(v); // 2 decimals
        const [x, y, w, h] = polygonBBox(poly);
        // centred at rotation 0; rotation moves the bbox centre of asymmetric shapes a little
        expect(Math.abs(x + w / 2 - g.cx), shape).toBeLessThan(0.2 * r);
        expect(Math.abs(y + h / 2 - g.cy), shape).toBeLessThan(0.2 * r);
        expect(Math.max(w, h) / 2, shape).toBeLessThanOrEqual(1.1 * r);
        const area = polygonArea(poly);
        const pixels = polygonPixelArea(poly, 120, 120);
        // the pixel count differs from the exact area by boundary pixels only
        const perimeterish = 2 * (w + h);
        expect(Math.abs(pixels - area), shape).toBeLessThan(0.5 * perimeterish);
        // the area centroid is inside
        const [px, py] = polygonCentroid(poly);
        expect(polygonMask(poly, 120, 120)[Math.floor(py) * 120 + Math.floor(px)], shape).toBe(1);
      }
    }
  });

  it('anti-aliased fill covers exactly the polygon area in total', () => {
    for (const shape of SHAPES) {
      const poly = shapePolygon({ shape, cx: 50.3, cy: 49.7, r: 30, rot: 0.1, aspect: 0.55 });
      const c = new Canvas(100, 100);
      fillPolygon(c, poly, [255, 255, 255]);
      let cover = 0;
      for (let i = 0; i < c.data.length; i += 3) cover += c.data[i]! / 255;
      // 4 sub-scanlines per row: exact along x, sampled along y
      expect(Math.abs(cover - polygonArea(poly)) / polygonArea(poly), shape).toBeLessThan(0.01);
    }
  });

  it('backgrounds are deterministic, cover the canvas and stay within their two colours', () => {
    for (const kind of BACKGROUNDS) {
      const a = new Canvas(64, 48);
      const b = new Canvas(64, 48);
      const spec = sampleBackground(new Rng(9), kind, 64, 48);
      expect(sampleBackground(new Rng(9), kind, 64, 48)).toEqual(spec);
      paintBackground(a, spec);
      paintBackground(b, spec);
      expect(a.data).toEqual(b.data);
      const [c1, c2] = spec.colors;
      let outside = 0;
      for (let i = 0; i < a.data.length; i++) {
        const ch = i % 3;
        if (a.data[i]! < Math.min(c1[ch]!, c2[ch]!) - 1e-3 || a.data[i]! > Math.max(c1[ch]!, c2[ch]!) + 1e-3) outside++;
      }
      expect(outside, kind).toBe(0);
      const rgb = a.toRgb8(new Rng(1), 4);
      expect(rgb.length).toBe(64 * 48 * 3);
      expect(a.toRgb8(new Rng(1), 4)).toEqual(rgb);
    }
  });
});
