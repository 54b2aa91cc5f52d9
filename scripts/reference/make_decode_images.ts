/**
 * Writes the small test images of test/reference/decode/ (run: npx tsx scripts/reference/make_decode_images.ts),
 * then run scripts/reference/make_decode_refs.py to record what OpenCV decodes from them.
 * One 37×23 pattern in the formats the loader must decode like cv2.imdecode(IMREAD_COLOR):
 * JPEG 4:2:0 / 4:4:4 / progressive / grayscale / CMYK / EXIF-rotated / with an ICC profile,
 * PNG 8/16-bit RGB and grey, with alpha.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'reference', 'decode');

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const w = 37;
  const h = 23;
  const rgb = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      rgb[i] = (x * 7) % 256;
      rgb[i + 1] = (y * 11) % 256;
      rgb[i + 2] = ((x + y) * 5) % 256;
    }
  }
  const base = () => sharp(rgb, { raw: { width: w, height: h, channels: 3 } });
  const files: Record<string, Promise<Buffer>> = {
    'rgb.jpg': base().jpeg({ quality: 90 }).toBuffer(),
    'rgb444.jpg': base().jpeg({ quality: 90, chromaSubsampling: '4:4:4' }).toBuffer(),
    'progressive.jpg': base().jpeg({ quality: 80, progressive: true }).toBuffer(),
    'exif6.jpg': base().jpeg({ quality: 90 }).withMetadata({ orientation: 6 }).toBuffer(),
    'gray.jpg': base().grayscale().jpeg({ quality: 90 }).toBuffer(),
    'cmyk.jpg': base().toColourspace('cmyk').jpeg({ quality: 90 }).toBuffer(),
    'p3.jpg': base().withIccProfile('p3').jpeg({ quality: 90 }).toBuffer(),
    'rgb16.png': base().toColourspace('rgb16').png().toBuffer(),
    'gray16.png': base().toColourspace('grey16').png().toBuffer(),
    'rgba.png': base().ensureAlpha(0.5).png().toBuffer(),
    'graya.png': base().grayscale().ensureAlpha(0.5).png().toBuffer(),
  };
  for (const [name, p] of Object.entries(files)) writeFileSync(join(OUT, name), await p);
  console.log(`wrote ${Object.keys(files).length} images to ${OUT}`);
}

await main();
