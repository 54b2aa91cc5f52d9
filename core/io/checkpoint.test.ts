import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { FIXTURES, ROOT } from '../../test/fixtures.js';
import { toFloat32 } from './raw-tensor.js';
import { readSafetensors } from './safetensors.js';
import { parseCheckpoint, readCheckpoint, sniffCheckpoint } from './checkpoint.js';
import { makeZip } from './zip-testing.js';

const REF = join(ROOT, 'test/reference/torch');
const tmp = mkdtempSync(join(tmpdir(), 'ckpt-'));

describe('readCheckpoint on the CLIP fixtures', () => {
  const parity = readSafetensors(join(FIXTURES, 'parity/clip_tiny.safetensors'));
  const params = parity.names.filter((n) => n.startsWith('param/')).map((n) => n.slice('param/'.length));
  const fp16 = new Set(JSON.parse(parity.metadata.fp16_params!) as string[]);

  const check = (tensors: Map<string, import('./raw-tensor.js').RawTensor>, names: string[]) => {
    expect([...tensors.keys()].sort()).toEqual([...names].sort());
    for (const n of names) {
      const got = tensors.get(n)!;
      const want = parity.get(`param/${n}`);
      expect(got.shape, n).toEqual(want.shape);
      const a = toFloat32(got);
      const b = toFloat32(want);
      let same = a.length === b.length;
      for (let i = 0; same && i < a.length; i++) same = Object.is(a[i], b[i]);
      expect(same, `${n} values`).toBe(true);
    }
  };

  it('TorchScript archive (OpenAI layout, fp16 entries stay fp16)', () => {
    const ck = readCheckpoint(join(FIXTURES, 'clip_tiny.jit.pt'));
    expect(ck.format).toBe('torchscript');
    check(ck.tensors, params);
    expect(ck.tensors.has('visual.transformer.resblocks.0.attn.in_proj_weight')).toBe(true);
    for (const [n, t] of ck.tensors) expect(t.dtype, n).toBe(fp16.has(n) ? 'float16' : 'float32');
    expect(fp16.size).toBe(195);
    expect(ck.metadata).toMatchObject({ archive: 'clip_tiny.jit', version: '3' });
  });

  it('torch.save state dict', () => {
    const ck = readCheckpoint(join(FIXTURES, 'clip_tiny.state.pth'));
    expect(ck.format).toBe('torch.save');
    check(ck.tensors, params);
  });

  it('training checkpoint: unwraps state_dict, strips module.backbone., keeps the rest as metadata', () => {
    const ck = readCheckpoint(join(FIXTURES, 'clip_tiny.ckpt.pth'), { strip: ['module.', 'backbone.'] });
    expect(ck.format).toBe('torch.save');
    // the fixture holds 13 of the non-block entries (README: "only the non-block CLIP entries")
    const names = [...ck.tensors.keys()];
    expect(names.length).toBe(13);
    expect(names.every((n) => params.includes(n) && !n.includes('resblocks'))).toBe(true);
    expect(names).toContain('visual.conv1.weight');
    check(ck.tensors, names);
    expect(ck.metadata).toMatchObject({ epoch: 3, best_IoU: 0.5, state_dict_key: 'state_dict', optimizer: { param_groups: [{ lr: 0.0001, params: [0, 1] }] } });
    const raw = readCheckpoint(join(FIXTURES, 'clip_tiny.ckpt.pth'), { strip: ['module.'] });
    expect([...raw.tensors.keys()].every((k) => k.startsWith('backbone.'))).toBe(true);
  });
});

describe('readCheckpoint dispatch and unwrapping', () => {
  it('reads safetensors whatever the extension (a .safetensors renamed .pt)', () => {
    const p = join(tmp, 'renamed.pt');
    copyFileSync(join(REF, 'views.expected.safetensors'), p);
    const ck = readCheckpoint(p);
    expect(ck.format).toBe('safetensors');
    expect(ck.tensors.get('f32_transposed')!.shape).toEqual([6, 4]);
    expect(JSON.parse(ck.metadata.names as string)).toContain('bool');
  });

  it('reads the legacy format and the nested training checkpoint', () => {
    const legacy = readCheckpoint(join(REF, 'views_legacy.pth'));
    expect(legacy.metadata.legacy_format).toBe(true);
    expect(legacy.tensors.size).toBe(23);
    const ck = readCheckpoint(join(REF, 'nested.pth'), { strip: ['module.'] });
    expect([...ck.tensors.keys()]).toEqual(['backbone.weight', 'backbone.bias', 'head.proj.weight', 'head.proj.bias']);
    expect(ck.metadata).toMatchObject({ epoch: 7, best_IoU: 0.625, args: { lr: 1e-4, name: 'barleria', flags: [true, null, 2n ** 70n], size: [416, 416] } });
    expect((ck.metadata.optimizer as { state: unknown[] }).state[0]).toEqual([0, { step: 'tensor float32[]', exp_avg: 'tensor float32[2, 3]', exp_avg_sq: 'tensor float32[2, 3]' }]);
  });

  it('refuses stripping that makes two names collide', () => {
    expect(() => readCheckpoint(join(REF, 'nested.pth'), { strip: ['module.backbone.', 'module.head.proj.'] })).toThrow(/maps both "module.backbone.weight" and "module.head.proj.weight" to "weight"/);
  });

  it('says what a non-checkpoint file is', () => {
    const cases: [string, Buffer, RegExp][] = [
      ['png.pt', Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), /is not a checkpoint: expected safetensors, a torch.save zip or a TorchScript archive \(first bytes 89 50 4e 47 0d 0a 1a 0a: a PNG image\)/],
      ['text.pt', Buffer.from('version https://git-lfs.github.com/spec/v1\noid sha256:abc\n'), /first bytes 76 65 72 .*: text "version https:\/\/git-lfs/],
      ['empty.pt', Buffer.alloc(0), /first bytes none: the file is empty/],
      ['tar.pt', (() => { const b = Buffer.alloc(1024); b.write('ustar', 257); return b; })(), /tar-based torch.save format of PyTorch < 0.4 is not supported/],
    ];
    for (const [name, buf, re] of cases) {
      const p = join(tmp, name);
      writeFileSync(p, buf);
      expect(() => readCheckpoint(p)).toThrow(FileFormatError);
      expect(() => readCheckpoint(p)).toThrow(re);
    }
    expect(() => readCheckpoint(join(tmp, 'missing.pt'))).toThrow(/cannot read: ENOENT/);
    expect(() => readCheckpoint(tmp)).toThrow(/is not a file/);
  });

  it('refuses hostile and broken archives with FileFormatError', () => {
    const state = readFileSync(join(REF, 'views.pth'));
    const bad: [string, Buffer, RegExp][] = [
      ['evil', readFileSync(join(REF, 'evil.pth')), /refuses to load global "posix.system"/],
      ['truncated zip', state.subarray(0, state.length - 30), /no end-of-central-directory record/],
      ['half a zip', state.subarray(0, state.length >> 1), /no end-of-central-directory record/],
      ['zip without data.pkl', makeZip([{ name: 'a/version', data: Buffer.from('3\n') }, { name: 'a/data/0', data: new Uint8Array(4) }]), /has no data.pkl: not a torch.save or TorchScript archive \(entries: a\/version, a\/data\/0\)/],
      ['empty zip', makeZip([]), /has no data.pkl/],
      ['a bare pickle', readFileSync(join(REF, 'data_p2.pkl')), /not a torch.save file/],
      ['a pickle bomb in data.pkl', makeZip([{ name: 'a/data.pkl', data: Buffer.from(`\x80\x02}X\x01\x00\x00\x00w${']'.repeat(5000)}${'a'.repeat(4999)}s.`, 'latin1') }]), /nests deeper than 500 levels/],
      ['a list root', makeZip([{ name: 'a/data.pkl', data: Buffer.from('\x80\x02]K\x01a.', 'latin1') }]), /holds a list, not a state dict/],
    ];
    for (const [what, buf, re] of bad) {
      expect(() => parseCheckpoint(buf, `${what}.pth`), what).toThrow(FileFormatError);
      expect(() => parseCheckpoint(buf, `${what}.pth`), what).toThrow(re);
    }
  });

  it('sniffs formats from the first bytes', () => {
    expect(sniffCheckpoint(readFileSync(join(REF, 'views.expected.safetensors')))).toBe('safetensors');
    expect(sniffCheckpoint(readFileSync(join(REF, 'views.pth')))).toBe('zip');
    expect(sniffCheckpoint(readFileSync(join(REF, 'views_legacy.pth')))).toBe('pickle');
    expect(sniffCheckpoint(Buffer.from('hello'))).toBeUndefined();
  });
});
