import { describe, expect, it } from 'vitest';
import type { ImageBuffer } from './image.js';
import { letterboxImage, letterboxMask } from './letterbox.js';
import { CLIP_BORDER_VALUE, CLIP_MEAN, CLIP_STD, maskToFloat, normalizeImage } from './normalize.js';
import { diff, evalPost, f32, u8, visionReference } from './test-data.js';

describe('normalizeImage', () => {
  it('is bit-identical to the official convert() (CHW) and transposes for HWC', () => {
    const ref = visionReference();
    const info = ref.info('normalize/in');
    const img: ImageBuffer<Uint8Array> = { data: u8(ref, 'normalize/in'), height: info.shape[0]!, width: info.shape[1]!, channels: 3 };
    const chw = normalizeImage(img, CLIP_MEAN, CLIP_STD, 'chw');
    expect(diff(chw, f32(ref, 'normalize/out'))).toEqual({ max: 0, count: 0 });
    const hwc = normalizeImage(img);
    const hw = img.height * img.width;
    for (let p = 0; p < hw; p++) for (let c = 0; c < 3; c++) expect(hwc[p * 3 + c]).toBe(chw[c * hw + p]);
  });

  it('validates mean/std', () => {
    const img: ImageBuffer<Uint8Array> = { data: new Uint8Array(3), height: 1, width: 1, channels: 3 };
    expect(() => normalizeImage(img, [0.5], [0.5])).toThrow(/3 mean and std/);
    expect(() => normalizeImage(img, [0, 0, 0], [1, 0, 1])).toThrow(/non-zero/);
  });

  it('exports the official constants', () => {
    expect(CLIP_BORDER_VALUE).toEqual([0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255]);
  });
});

describe('eval_post fixture: the training sample tensors', () => {
  it('img_tensor (≤ 1e-5 from the reference warp, ≤ one uint8 level from ours; measured identical) and mask_tensor', () => {
    const { file, config } = evalPost();
    const S = config.input_size;
    for (const t of config.train_samples) {
      const [h, w] = t.ori_size_hw;
      const expected = f32(file, `out/train.img_tensor.${t.index}`);
      const refWarp: ImageBuffer<Uint8Array> = { data: u8(file, `out/train.img_warp_u8.${t.index}`), height: S, width: S, channels: 3 };
      expect(diff(normalizeImage(refWarp, CLIP_MEAN, CLIP_STD, 'chw'), expected).max).toBeLessThanOrEqual(1e-5);
      const img: ImageBuffer<Uint8Array> = { data: u8(file, `in/train.img_u8.${t.index}`), height: h, width: w, channels: 3 };
      const lb = letterboxImage(img, S);
      const tensor = normalizeImage(lb.image, CLIP_MEAN, CLIP_STD, 'chw');
      expect(diff(tensor, expected).max).toBeLessThanOrEqual(1 / 255 / Math.min(...CLIP_STD) + 1e-5);
      const mask: ImageBuffer<Uint8Array> = { data: u8(file, `in/train.mask_u8.${t.index}`), height: h, width: w, channels: 1 };
      const mt = maskToFloat(letterboxMask(mask, lb.forward, S).data);
      expect(diff(mt, f32(file, `out/train.mask_tensor.${t.index}`))).toEqual({ max: 0, count: 0 });
    }
  });
});
