/** Generated documentation and configs are current. */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from '../core/registry/registry.js';
import { CORE_PLUGINS } from '../core/plugins.js';
import { PLUGINS } from '../plugins/index.js';
import { schemaMarkdown } from '../core/cli/schema-doc.js';
import { FILES, render } from '../scripts/make-configs.js';
import { ROOT } from './fixtures.js';

describe('generated files', () => {
  it('docs/configs.md is what `zoo schema --markdown` prints (regenerate: npx zoo schema --markdown > docs/configs.md)', () => {
    const expected = schemaMarkdown(new Registry([...CORE_PLUGINS, ...PLUGINS]));
    expect(readFileSync(join(ROOT, 'docs/configs.md'), 'utf8')).toBe(expected + '\n');
  });

  it('configs/ is what scripts/make-configs.ts writes (regenerate: npx tsx scripts/make-configs.ts)', () => {
    for (const [path, doc] of FILES) expect(readFileSync(join(ROOT, 'configs', path), 'utf8'), path).toBe(render(doc));
  });
});
