/** A PNG of the training curves (loss per step, smoothed; val mIoU per evaluation), drawn as SVG and rasterised by sharp. */
import sharp from 'sharp';
import { writeFileAtomic } from '../io/atomic-write.js';

export interface CurvePoint {
  x: number;
  y: number;
}

function panel(title: string, series: { name: string; color: string; points: CurvePoint[] }[], x0: number, w: number, h: number, yLabel: string): string {
  const pad = { l: 56, r: 12, t: 28, b: 36 };
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  if (!all.length) return `<text x="${x0 + w / 2}" y="${h / 2}" text-anchor="middle" font-size="13">${title}: no data yet</text>`;
  const xmin = Math.min(...all.map((p) => p.x));
  const xmax = Math.max(...all.map((p) => p.x), xmin + 1);
  let ymin = Math.min(...all.map((p) => p.y));
  let ymax = Math.max(...all.map((p) => p.y));
  if (ymax - ymin < 1e-9) {
    ymin -= 0.5;
    ymax += 0.5;
  }
  const sx = (x: number) => x0 + pad.l + ((x - xmin) / (xmax - xmin)) * (w - pad.l - pad.r);
  const sy = (y: number) => pad.t + (1 - (y - ymin) / (ymax - ymin)) * (h - pad.t - pad.b);
  const parts = [`<text x="${x0 + w / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${title}</text>`];
  parts.push(`<rect x="${x0 + pad.l}" y="${pad.t}" width="${w - pad.l - pad.r}" height="${h - pad.t - pad.b}" fill="none" stroke="#888"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = ymin + ((ymax - ymin) * i) / 4;
    parts.push(`<text x="${x0 + pad.l - 4}" y="${sy(y) + 4}" text-anchor="end" font-size="10">${y.toPrecision(3)}</text>`);
    parts.push(`<line x1="${x0 + pad.l}" x2="${x0 + w - pad.r}" y1="${sy(y)}" y2="${sy(y)}" stroke="#eee"/>`);
  }
  parts.push(`<text x="${x0 + pad.l}" y="${h - 8}" font-size="10">${xmin}</text><text x="${x0 + w - pad.r}" y="${h - 8}" text-anchor="end" font-size="10">${xmax}</text>`);
  parts.push(`<text x="${x0 + (w + pad.l) / 2}" y="${h - 8}" text-anchor="middle" font-size="11">step</text>`);
  parts.push(`<text x="${x0 + 12}" y="${h / 2}" font-size="11" transform="rotate(-90 ${x0 + 12} ${h / 2})" text-anchor="middle">${yLabel}</text>`);
  series.forEach((s, k) => {
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    if (pts.length === 1) parts.push(`<circle cx="${sx(pts[0]!.x)}" cy="${sy(pts[0]!.y)}" r="3" fill="${s.color}"/>`);
    else parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.5" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
    parts.push(`<text x="${x0 + w - pad.r - 4}" y="${pad.t + 14 + 13 * k}" text-anchor="end" font-size="11" fill="${s.color}">${s.name}</text>`);
  });
  return parts.join('\n');
}

/** Exponential moving average for a readable loss curve. */
export function smooth(points: CurvePoint[], alpha = 0.1): CurvePoint[] {
  let m: number | undefined;
  return points.map((p) => ({ x: p.x, y: (m = m === undefined ? p.y : m + alpha * (p.y - m)) }));
}

export async function writeCurvesPng(path: string, loss: CurvePoint[], miou: CurvePoint[]): Promise<void> {
  const W = 900;
  const H = 320;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>
${panel('training loss', [{ name: 'loss (EMA)', color: '#1f77b4', points: smooth(loss) }], 0, W / 2, H, 'loss')}
${panel('validation', [{ name: 'val mIoU (%)', color: '#d62728', points: miou }], W / 2, W / 2, H, 'mIoU %')}
</svg>`;
  const png = await sharp(Buffer.from(svg)).png().toBuffer();
  writeFileAtomic(path, png);
}
