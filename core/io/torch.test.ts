import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { ROOT } from '../../test/fixtures.js';
import type { RawTensor } from './raw-tensor.js';
import { readSafetensors } from './safetensors.js';
import { PyDict, PyStorage, PyTensor, unpickle } from './pickle.js';
import { parseTorch, readTorch, stateDictTensors, tensorData, torchScriptTensors } from './torch.js';
import { makeZip } from './zip-testing.js';

const REF = join(ROOT, 'test/reference/torch');
const bytesOf = (t: RawTensor) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);

/** Exact equality: dtype, shape and every byte. */
function expectSame(got: RawTensor, want: RawTensor, name: string) {
  expect({ name, dtype: got.dtype, shape: got.shape }).toEqual({ name, dtype: want.dtype, shape: want.shape });
  expect(bytesOf(got).equals(bytesOf(want)), `${name} bytes`).toBe(true);
}

describe('torch.save files', () => {
  const expected = readSafetensors(join(REF, 'views.expected.safetensors'));
  const names = JSON.parse(expected.metadata.names!) as string[];

  for (const file of ['views.pth', 'views_p4.pth', 'views_legacy.pth']) {
    it(`${file}: every dtype and view (transposed, sliced, stepped, expanded, offset, shared) equals PyTorch`, () => {
      const tf = readTorch(join(REF, file));
      expect(tf.format).toBe('torch.save');
      expect(tf.legacy).toBe(file.includes('legacy'));
      const refs = stateDictTensors(tf.root, tf.path);
      expect([...refs.keys()]).toEqual(names);
      for (const n of names) expectSame(tensorData(refs.get(n)!, tf.path, n), expected.get(n), n);
      // shared storages are one storage object, read once
      expect(refs.get('shared_b')!.storage).toBe(refs.get('shared_a')!.storage);
      expect(refs.get('shared_c')!.storage).toBe(refs.get('shared_a')!.storage);
      expect(refs.get('shared_b')!.offset).toBe(4);
      expect(refs.get('f32_transposed')!.stride).toEqual([1, 6]);
      expect(refs.get('f32_expand')!.stride).toEqual([0, 1]);
      expect(refs.get('param')!.parameter).toBe(true);
      // dtypes stay as saved
      const t = (n: string) => tensorData(refs.get(n)!, tf.path, n);
      expect(t('f16').data).toBeInstanceOf(Uint16Array);
      expect(t('bf16').dtype).toBe('bfloat16');
      expect([...(t('i64').data as BigInt64Array)]).toEqual([0n, 1n, -1n, 2n ** 62n, -(2n ** 63n), 2n ** 63n - 1n]);
      expect([...t('bool').data]).toEqual([1, 0, 0, 0, 1, 1]);
      expect(t('f32_scalar').shape).toEqual([]);
      expect(t('f32_empty').data.length).toBe(0);
    });
  }

  it('reads a model.state_dict() (OrderedDict with _metadata, int64 buffer)', () => {
    const tf = readTorch(join(REF, 'module_sd.pth'));
    const want = readSafetensors(join(REF, 'module_sd.expected.safetensors'));
    const refs = stateDictTensors(tf.root, tf.path);
    expect([...refs.keys()]).toEqual(JSON.parse(want.metadata.names!));
    for (const [n, r] of refs) expectSame(tensorData(r, tf.path, n), want.get(n), n);
    expect((tf.root as PyDict).attrs).toBeInstanceOf(PyDict); // _metadata set by BUILD
    expect([...(tensorData(refs.get('1.num_batches_tracked')!, tf.path).data as BigInt64Array)]).toEqual([5n]);
  });

  it('reads a training checkpoint with nested dicts, numpy scalars and optimizer state', () => {
    const tf = readTorch(join(REF, 'nested.pth'));
    const want = JSON.parse(readFileSync(join(REF, 'nested.json'), 'utf8')) as { names: string[]; values: Record<string, number[]> };
    const root = tf.root as PyDict;
    expect(root.get('epoch')).toBe(7);
    expect(root.get('best_IoU')).toBe(0.625);
    const refs = stateDictTensors(root.get('state_dict')!, tf.path);
    expect([...refs.keys()]).toEqual(want.names);
    for (const [n, vals] of Object.entries(want.values)) expect([...(tensorData(refs.get(n)!, tf.path, n).data as Float32Array)]).toEqual(vals.map(Math.fround));
  });

  it('refuses a legacy file that is not a torch file and a pickled whole module', () => {
    expect(() => parseTorch(readFileSync(join(REF, 'data_p2.pkl')), 'x.pt')).toThrow(/not a torch.save file \(no torch magic number\)/);
    expect(() => parseTorch(Buffer.from('hello'), 'x.pt')).toThrow(/is not a PyTorch file/);
  });

  it('refuses a truncated legacy file', () => {
    const buf = readFileSync(join(REF, 'views_legacy.pth'));
    for (const cut of [buf.length - 1, buf.length - 100, Math.floor(buf.length / 2), 40]) {
      expect(() => parseTorch(buf.subarray(0, cut), 'cut.pth')).toThrow(FileFormatError);
    }
    expect(() => parseTorch(buf.subarray(0, buf.length - 1), 'cut.pth')).toThrow(/runs past the end of the file/);
  });

  it('refuses a data.pkl calling os.system', () => {
    expect(() => readTorch(join(REF, 'evil.pth'))).toThrow(/evil.pth: bad pickle evil\/data.pkl at byte \d+ \(GLOBAL\): refuses to load global "posix.system"/);
  });

  it('validates storages: missing records, wrong sizes, mixed dtypes', () => {
    const pkl = (key: string, numel: number, type = 'FloatStorage') =>
      Buffer.from(`\x80\x02}X\x01\x00\x00\x00wctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\n${type}\nX\x01\x00\x00\x00${key}X\x03\x00\x00\x00cpuK${String.fromCharCode(numel)}tQK\x00K\x02\x85K\x01\x85\x89NtRs.`, 'latin1');
    const zip = (p: Buffer, data: Uint8Array) => makeZip([{ name: 'a/data.pkl', data: p }, { name: 'a/data/0', data }, { name: 'a/version', data: Buffer.from('3\n') }]);
    const ok = parseTorch(zip(pkl('0', 2), new Uint8Array(new Float32Array([1, 2]).buffer)), 'ok.pth');
    expect([...(tensorData((ok.root as PyDict).get('w') as PyTensor, 'ok.pth').data as Float32Array)]).toEqual([1, 2]);
    expect(() => parseTorch(zip(pkl('1', 2), new Uint8Array(8)), 'm.pth')).toThrow(/storage record "a\/data\/1" is missing/);
    expect(() => parseTorch(zip(pkl('0', 3), new Uint8Array(8)), 's.pth')).toThrow(/holds 8 bytes, but 3 float32 elements need 12/);
    expect(() => parseTorch(zip(pkl('0', 2, 'QInt8Storage'), new Uint8Array(8)), 'q.pth')).toThrow(/refuses to load global "torch.QInt8Storage"/);
    expect(() => parseTorch(makeZip([{ name: 'a/version', data: Buffer.from('3') }]), 'n.pth')).toThrow(/has no data.pkl/);
  });

  it('tensorData validates views and converts byte order', () => {
    const st = new PyStorage('float32', '0', 'cpu', 4, () => new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
    expect(() => tensorData(new PyTensor(st, 2, [3], [1], false), 'f', 'w')).toThrow(/tensor "w": view .* reaches element 4 of a 4-element storage/);
    expect(() => tensorData(new PyTensor(st, 0, [2, 2], [3, 1], false), 'f', 'w')).toThrow(/reaches element 4/);
    expect(() => tensorData(new PyTensor(st, 0, [1 << 13, 1 << 13], [0, 0], false), 'f', 'w')).toThrow(/expands a 4-element storage to 67108864 elements/);
    expect([...(tensorData(new PyTensor(st, 0, [2, 3], [0, 1], false), 'f').data as Float32Array)]).toEqual([1, 2, 3, 1, 2, 3]);
    const be = Buffer.alloc(8);
    be.writeFloatBE(1.5, 0);
    be.writeFloatBE(-2, 4);
    const bst = new PyStorage('float32', '0', 'cpu', 2, () => be, 'big');
    expect([...(tensorData(new PyTensor(bst, 0, [2], [1], false), 'f').data as Float32Array)]).toEqual([1.5, -2]);
    expect([...(tensorData(new PyTensor(bst, 0, [2], [0], false), 'f').data as Float32Array)]).toEqual([1.5, 1.5]);
  });
});

describe('TorchScript archives', () => {
  it('names tensors exactly as state_dict() does (parameters, buffers, submodules; no plain attributes)', () => {
    const tf = readTorch(join(REF, 'script.pt'));
    expect(tf.format).toBe('torchscript');
    const want = readSafetensors(join(REF, 'script.expected.safetensors'));
    const refs = torchScriptTensors(tf);
    expect([...refs.keys()]).toEqual(JSON.parse(want.metadata.names!));
    expect(refs.has('blocks.0.mask')).toBe(false);
    for (const [n, r] of refs) expectSame(tensorData(r, tf.path, n), want.get(n), n);
    expect(refs.get('proj')!.dtype).toBe('float16');
  });

  it('falls back to every tensor attribute when code/ is missing', () => {
    const z = readTorch(join(REF, 'script.pt')).zip!;
    const stripped = makeZip(z.names.filter((n) => !n.includes('/code/')).map((n) => ({ name: n, data: z.read(n) })).concat([{ name: 'script/constants.pkl', data: z.read('script/constants.pkl') }]).filter((e, i, a) => a.findIndex((x) => x.name === e.name) === i));
    const refs = torchScriptTensors(parseTorch(stripped, 'nocode.pt'));
    expect(refs.has('blocks.0.mask')).toBe(true);
    expect(refs.has('blocks.1.fc.weight')).toBe(true);
  });

  it('refuses __torch__ classes outside TorchScript archives', () => {
    const p = Buffer.from('\x80\x02c__torch__\nNet\n)\x81.', 'latin1');
    expect(() => unpickle(p)).toThrow(/refuses to load global "__torch__.Net"/);
    expect(() => parseTorch(makeZip([{ name: 'a/data.pkl', data: p }]), 'x.pth')).toThrow(/refuses to load global "__torch__.Net"/);
  });
});
