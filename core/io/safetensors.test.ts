import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeSafetensors, parseSafetensors, readSafetensors, writeSafetensors } from './safetensors.js';
import { floatToHalf, halfToFloat, toFloat32 } from './raw-tensor.js';
import { FileFormatError } from '../errors.js';
import { FIXTURES } from '../../test/fixtures.js';

describe('safetensors', () => {
  it('round-trips every dtype and metadata', () => {
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    const p = join(dir, 'a.safetensors');
    writeSafetensors(
      p,
      [
        ['f32', { dtype: 'float32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) }],
        ['f16', { dtype: 'float16', shape: [2], data: new Uint16Array([floatToHalf(1.5), floatToHalf(-2)]) }],
        ['bf16', { dtype: 'bfloat16', shape: [1], data: new Uint16Array([0x3fc0]) }],
        ['i64', { dtype: 'int64', shape: [2], data: new BigInt64Array([5n, -7n]) }],
        ['i32', { dtype: 'int32', shape: [], data: new Int32Array([9]) }],
        ['u8', { dtype: 'uint8', shape: [3], data: new Uint8Array([1, 2, 255]) }],
        ['b', { dtype: 'bool', shape: [2], data: new Uint8Array([1, 0]) }],
      ],
      { note: 'hi' },
    );
    const f = readSafetensors(p);
    expect(f.metadata).toEqual({ note: 'hi' });
    expect(f.names).toEqual(['f32', 'f16', 'bf16', 'i64', 'i32', 'u8', 'b']);
    expect([...toFloat32(f.get('f32'))]).toEqual([1, 2, 3, 4]);
    expect([...toFloat32(f.get('f16'))]).toEqual([1.5, -2]);
    expect([...toFloat32(f.get('bf16'))]).toEqual([1.5]);
    expect([...(f.get('i64').data as BigInt64Array)]).toEqual([5n, -7n]);
    expect(f.get('i32').shape).toEqual([]);
    expect([...f.get('u8').data]).toEqual([1, 2, 255]);
    expect((readFileSync(p).readUInt32LE(0) + 8) % 8).toBe(0);
  });

  it('half conversion is exact and rounds to nearest even', () => {
    for (let h = 0; h < 0x7c00; h += 7) expect(floatToHalf(halfToFloat(h))).toBe(h);
    expect(floatToHalf(1 + 2 ** -11)).toBe(floatToHalf(1)); // tie to even
  });

  it('reads the parity fixture header and F16 entries', () => {
    const f = readSafetensors(join(FIXTURES, 'parity/clip_tiny.safetensors'));
    expect(JSON.parse(f.metadata.config!)).toBeTypeOf('object');
    const fp16 = JSON.parse(f.metadata.fp16_params!) as string[];
    expect(f.info(`param/${fp16[0]}`).dtype).toBe('float16');
  });

  const good = Buffer.concat(encodeSafetensors([['x', { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) }]]));
  const bad: [string, Buffer, RegExp][] = [
    ['too short', Buffer.alloc(3), /shorter than the 8-byte/],
    ['header past EOF', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(10_000n); return b; })(), /past the end of the file/],
    ['huge header', (() => { const b = Buffer.from(good); b.writeBigUInt64LE(2n ** 60n); return b; })(), /exceeds/],
    ['truncated data', good.subarray(0, good.length - 4), /past the data section/],
    ['not json', Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]), /not JSON/],
  ];
  for (const [name, buf, re] of bad) {
    it(`rejects ${name}`, () => {
      expect(() => parseSafetensors(buf, 'bad.safetensors')).toThrow(FileFormatError);
      expect(() => parseSafetensors(buf, 'bad.safetensors')).toThrow(re);
    });
  }
  it('rejects overlapping offsets and wrong sizes', () => {
    const mk = (h: object, data = 16) => { const j = Buffer.from(JSON.stringify(h)); const l = Buffer.alloc(8); l.writeBigUInt64LE(BigInt(j.length)); return Buffer.concat([l, j, Buffer.alloc(data)]); };
    expect(() => parseSafetensors(mk({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }))).toThrow(/overlap/);
    expect(() => parseSafetensors(mk({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }))).toThrow(/needs 12 bytes/);
    expect(() => parseSafetensors(mk({ a: { dtype: 'Q4', shape: [3], data_offsets: [0, 8] } }))).toThrow(/unsupported dtype/);
  });
});
