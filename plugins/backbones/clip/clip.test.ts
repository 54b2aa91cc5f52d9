import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { tf } from '../../../core/runtime/tf.js';
import { selectBackend } from '../../../core/runtime/backend.js';
import { Fixture } from '../../../core/parity/fixture.js';
import { ParityReport } from '../../../core/parity/report.js';
import { FIXTURES } from '../../../test/fixtures.js';
import { clipParity } from './parity.js';
import { Registry } from '../../../core/registry/registry.js';

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`CLIP parity on ${backend}`, () => {
    it('clip_tiny: resized pos-embed, every block, encode_image, encode_text', async () => {
      await selectBackend(backend);
      const before = tf.memory().numTensors;
      const f = new Fixture(join(FIXTURES, 'parity/clip_tiny.safetensors'));
      expect(clipParity.matches(f)).toBe(true);
      const report = new ParityReport();
      await clipParity.run(f, report, { registry: new Registry() });
      if (!report.ok) console.log(report.summary());
      expect(report.ok).toBe(true);
      expect(report.rows.length).toBeGreaterThan(25);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
}
