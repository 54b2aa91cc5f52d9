import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FileFormatError } from '../errors.js';
import { FIXTURES } from '../../test/fixtures.js';
import { crc32, parseZip, readZip } from './zip.js';
import { makeZip } from './zip-testing.js';

const text = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const big = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
const entries = [
  { name: 'a/data.pkl', data: text('hello') },
  { name: 'a/data/0', data: big, method: 8 as const },
  { name: 'a/empty', data: new Uint8Array(0) },
  { name: 'a/ünï', data: text('unicode name') },
];

const rejects = (buf: Buffer, re: RegExp, read?: string) => {
  const run = () => {
    const z = parseZip(buf, 'bad.zip');
    if (read) z.read(read);
  };
  expect(run).toThrow(FileFormatError);
  expect(run).toThrow(re);
};

describe('zip reader', () => {
  it('crc32 matches the reference value', () => {
    expect(crc32(text('123456789'))).toBe(0xcbf43926);
  });

  for (const zip64 of [false, true]) {
    it(`reads stored and deflated entries${zip64 ? ' with ZIP64 records' : ''}`, () => {
      const buf = makeZip(entries, { zip64, align: 64, comment: 'c' });
      const z = parseZip(buf, 'x.zip');
      expect(z.names).toEqual(entries.map((e) => e.name));
      expect(Buffer.from(z.read('a/data.pkl')).toString()).toBe('hello');
      expect([...z.read('a/data/0')]).toEqual([...big]);
      expect(z.read('a/empty').length).toBe(0);
      expect(z.read('a/ünï').toString()).toBe('unicode name');
      // stored entries are views of the archive (no copy), aligned as written
      const s = z.read('a/data.pkl');
      expect(s.buffer).toBe(buf.buffer);
      expect(z.entry('a/data.pkl').dataOffset % 64).toBe(0);
      expect(z.entry('a/data/0')).toMatchObject({ method: 8, size: 5000 });
      expect(() => z.read('nope')).toThrow(/no entry "nope"/);
    });
  }

  it('lists the PyTorch fixture archives (ZIP64 end records, padded local headers)', () => {
    const z = readZip(join(FIXTURES, 'clip_tiny.jit.pt'));
    expect(z.names).toContain('clip_tiny.jit/data.pkl');
    expect(z.names.length).toBe(323);
    for (const n of z.names) if (n.includes('/data/')) expect(z.entry(n).dataOffset % 64).toBe(0);
    expect(z.read('clip_tiny.jit/version').toString().trim()).toBe('3');
  });

  it('rejects wrong magic, short and truncated files', () => {
    rejects(Buffer.from('not a zip at all, just some text here'), /wrong magic/);
    rejects(Buffer.from('PK'), /shorter than/);
    const good = makeZip(entries);
    rejects(good.subarray(0, good.length - 10), /no end-of-central-directory/);
    rejects(good.subarray(0, 200), /no end-of-central-directory/);
    const g64 = makeZip(entries, { zip64: true });
    rejects(g64.subarray(0, g64.length - 1), /no end-of-central-directory/);
  });

  it('rejects entries whose data runs past the end or into the directory', () => {
    const buf = Buffer.from(makeZip(entries));
    const z = parseZip(buf);
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
    // first central entry: bump the compressed+uncompressed size of the stored entry
    buf.writeUInt32LE(1_000_000, cd + 20);
    buf.writeUInt32LE(1_000_000, cd + 24);
    rejects(buf, /runs past the central directory/);
    const buf2 = Buffer.from(makeZip(entries));
    buf2.writeUInt32LE(0x7fffffff, cd + 42); // header offset past EOF
    rejects(buf2, /local header offset/);
    expect(z.names.length).toBe(4);
  });

  it('rejects overlapping entries, duplicates and local/central mismatches', () => {
    const buf = Buffer.from(makeZip([{ name: 'x', data: text('aaaa') }, { name: 'y', data: text('bbbb') }]));
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
    const second = cd + 46 + 1;
    const copy = Buffer.from(buf);
    copy.writeUInt32LE(0, second + 42); // y's header offset -> x's header
    rejects(copy, /names a different entry|overlap/);
    const grown = Buffer.from(buf);
    grown.writeUInt32LE(20, cd + 20); // x's data now covers y's local header
    grown.writeUInt32LE(20, cd + 24);
    rejects(grown, /entries "x" and "y" overlap/);
    const dup = makeZip([{ name: 'x', data: text('a') }, { name: 'x', data: text('b') }]);
    rejects(dup, /duplicate entry "x"/);
  });

  it('checks CRC-32 when an entry is read', () => {
    const buf = Buffer.from(makeZip(entries));
    const z = parseZip(buf);
    const at = z.entry('a/data.pkl').dataOffset;
    buf[at] ^= 0xff;
    rejects(buf, /"a\/data.pkl" is corrupt: CRC-32/, 'a/data.pkl');
    expect(() => parseZip(buf, 'x', { verifyCrc: false }).read('a/data.pkl')).not.toThrow();
    expect(() => parseZip(buf, 'x', { verifyCrc: 2 }).read('a/data.pkl')).not.toThrow();
  });

  it('rejects absurd counts, sizes and unsupported features', () => {
    const buf = Buffer.from(makeZip(entries));
    const eocd = buf.length - 22;
    const c = Buffer.from(buf);
    c.writeUInt16LE(60000, eocd + 8);
    c.writeUInt16LE(60000, eocd + 10);
    rejects(c, /declares 60000 entries but the central directory is only/);
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
    const deflated = cd + 46 + 'a/data.pkl'.length; // second central entry (deflate)
    const d = Buffer.from(buf);
    d.writeUInt32LE(0xfffffff0, deflated + 24);
    rejects(d, /beyond what deflate can do/);
    const e = Buffer.from(buf);
    e.writeUInt16LE(1, cd + 8); // encrypted flag
    rejects(e, /encrypted/);
    const m = Buffer.from(buf);
    m.writeUInt16LE(12, cd + 10); // bzip2
    rejects(m, /compression method 12/, 'a/data.pkl');
    expect(() => parseZip(makeZip(entries), 'x', { maxEntries: 2 })).toThrow(/more than the limit of 2/);
  });

  it('rejects deflate data that inflates to a different size', () => {
    const buf = Buffer.from(makeZip(entries));
    const cd = buf.indexOf(Buffer.from([0x50, 0x4b, 1, 2]));
    const deflated = cd + 46 + 'a/data.pkl'.length;
    buf.writeUInt32LE(4000, deflated + 24);
    rejects(buf, /cannot inflate|inflates to/, 'a/data/0');
  });
});
