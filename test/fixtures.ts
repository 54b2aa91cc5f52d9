import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The shared fixtures folder (golden tensors from the official code, CLIP BPE
 * vocabulary, tiny PyTorch files). Override with ZOO_FIXTURES.
 */
export const FIXTURES = process.env.ZOO_FIXTURES ?? join(ROOT, '..', 'shared', 'fixtures');

if (!existsSync(join(FIXTURES, 'parity'))) {
  throw new Error(`parity fixtures not found at ${FIXTURES}; set ZOO_FIXTURES to the shared/fixtures folder`);
}
