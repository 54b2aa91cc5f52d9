import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { readSafetensors } from '../io/safetensors.js';
import { BadSampleError } from './bad-sample.js';
import { decodeImage, loadImageFile, loadMaskFile } from './decode.js';

const REF = join(import.meta.dirname, '..', '..', 'test', 'reference', 'decode');
const tmp = mkdtempSync(join(tmpdir(), 'decode-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<BadSampleError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(BadSampleError);
    return e as BadSampleError;
  }
  throw new Error('expected a rejection');
}

describe('decodeImage matches cv2.imdecode(IMREAD_COLOR) + BGR2RGB', () => {
  const ref = readSafetensors(join(REF, 'cv2.safetensors'));
  const files = readdirSync(REF).filter((f) => /\.(jpg|png)$/.test(f));

  it('has a reference for every test image', () => {
    expect(files.length).toBeGreaterThanOrEqual(11);
    for (const f of files) expect(ref.names).toContain(f);
  });

  for (const f of ['rgb.jpg', 'rgb444.jpg', 'progressive.jpg', 'exif6.jpg', 'gray.jpg', 'cmyk.jpg', 'p3.jpg', 'rgb16.png', 'gray16.png', 'rgba.png', 'graya.png']) {
    it(f, async () => {
      const img = await loadImageFile(join(REF, f));
      const t = ref.get(f);
      expect([img.height, img.width, img.channels]).toEqual(t.shape);
      expect(Buffer.from(img.data).equals(Buffer.from(t.data as Uint8Array))).toBe(true);
    });
  }

  it('EXIF orientation can be ignored (stored pixel grid)', async () => {
    const img = await loadImageFile(join(REF, 'exif6.jpg'), { exifOrientation: false });
    expect([img.height, img.width]).toEqual([23, 37]);
  });
});

describe('bad files', () => {
  const jpg = readFileSync(join(REF, 'rgb.jpg'));

  it('missing, empty, truncated and garbage files are BadSampleErrors naming the file', async () => {
    const missing = await rejection(loadImageFile(join(tmp, 'nope.jpg')));
    expect(missing.reason).toBe('unreadable-image');
    expect(missing.message).toContain('nope.jpg');
    expect(missing.message).toContain('not found');

    writeFileSync(join(tmp, 'empty.jpg'), '');
    const empty = await rejection(loadImageFile(join(tmp, 'empty.jpg')));
    expect(empty.reason).toBe('empty-image');

    writeFileSync(join(tmp, 'trunc.jpg'), jpg.subarray(0, Math.floor(jpg.length * 0.7)));
    const trunc = await rejection(loadImageFile(join(tmp, 'trunc.jpg')));
    expect(trunc.reason).toBe('unreadable-image');
    expect(trunc.message).toMatch(/trunc\.jpg: cannot decode the image/);

    writeFileSync(join(tmp, 'header.jpg'), jpg.subarray(0, 60));
    expect((await rejection(loadImageFile(join(tmp, 'header.jpg')))).reason).toBe('unreadable-image');

    writeFileSync(join(tmp, 'text.jpg'), 'this is not an image');
    expect((await rejection(loadImageFile(join(tmp, 'text.jpg')))).reason).toBe('unreadable-image');
  });

  it('accepts libjpeg warnings (extraneous bytes before EOI), as OpenCV does', async () => {
    const withJunk = Buffer.concat([jpg.subarray(0, jpg.length - 2), Buffer.from([0, 0, 0]), jpg.subarray(jpg.length - 2)]);
    const a = await decodeImage(withJunk, 'junk.jpg');
    const b = await decodeImage(jpg, 'rgb.jpg');
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
  });

  it('loadMaskFile reads grey PNGs and refuses colour ones', async () => {
    const grey = Buffer.from([0, 255, 254, 0, 0, 255]);
    await sharp(grey, { raw: { width: 3, height: 2, channels: 1 } }).png().toFile(join(tmp, 'm.png'));
    const m = await loadMaskFile(join(tmp, 'm.png'));
    expect([m.height, m.width, m.channels]).toEqual([2, 3, 1]);
    expect([...m.data]).toEqual([...grey]);
    const colour = Buffer.from([255, 0, 0, 0, 0, 0]);
    await sharp(colour, { raw: { width: 2, height: 1, channels: 3 } }).png().toFile(join(tmp, 'c.png'));
    const e = await rejection(loadMaskFile(join(tmp, 'c.png')));
    expect(e.reason).toBe('unreadable-mask');
    expect(e.message).toMatch(/colour/);
    expect((await rejection(loadMaskFile(join(tmp, 'none.png')))).reason).toBe('unreadable-mask');
  });
});
