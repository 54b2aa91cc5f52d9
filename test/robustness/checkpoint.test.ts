/**
 * Bad-input corpus, checkpoints: truncated and corrupt safetensors (header lengths past
 * the end, overlapping offsets, bad dtypes), other formats given where ours is expected,
 * checkpoints of another config, NaN weights, hostile torch.save files (forbidden globals,
 * pickle bombs), directories and empty files. Through `zoo predict --checkpoint`,
 * `model.checkpoint` (zoo train) and `zoo train --resume`. See harness.ts.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { corpus, type Case, type CaseEnv } from './harness.js';
import { copyInto, jpeg, pickleDeepNesting, pickleForbiddenGlobal, pickleSharedBomb, torchZip, writeModelCheckpoint } from './fixtures.js';
import { caseConfig, useShared, type Shared } from './shared.js';
import { floatToHalf } from '../../core/io/raw-tensor.js';
import { encodeSafetensors } from '../../core/io/safetensors.js';

const { shared, base } = useShared('checkpoint', { checkpoint: true });

type C = Case<Shared>;
type E = CaseEnv<Shared>;

/** Split a safetensors file into header object and data. */
function parts(buf: Buffer): { header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } & Record<string, unknown>>; data: Buffer } {
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.subarray(8, 8 + n).toString('utf8')), data: buf.subarray(8 + n) };
}

function assemble(header: unknown, data: Buffer, headerLen?: bigint): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(headerLen ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** The shared valid checkpoint, edited. */
function edit(e: E, f: (p: ReturnType<typeof parts>) => Buffer | void, name = 'ck.safetensors'): string {
  const p = parts(readFileSync(e.shared.checkpoint));
  const out = f(p) ?? assemble(p.header, p.data);
  writeFileSync(e.at(name), out);
  return e.at(name);
}

const firstTensor = (h: Record<string, unknown>) => Object.keys(h).find((k) => k !== '__metadata__')!;

/** `zoo predict` with checkpoint `ck` (prepared by `make`): fails with exit 1 and these messages. */
function predictWith(name: string, expect: string, make: (e: E) => string | Promise<string>, messages: (RegExp | ((e: E) => RegExp | string))[], exit: 0 | 1 | 2 = 1): C {
  let ck = '';
  return {
    name,
    expect,
    exit,
    setup: async (e) => {
      writeFileSync(e.at('img.jpg'), await jpeg(24, 20));
      ck = await make(e);
    },
    argv: (e) => ['predict', '--config', e.shared.modelConfig, '--checkpoint', ck, '--image', e.at('img.jpg'), '--text', 'the left one', '--out', e.at('pred.png')],
    messages,
    allowNew: exit === 0 ? [/^pred\.png$/, /^pred\.mask\.png$/] : [],
  };
}

/** `zoo train` with `model.checkpoint` = the file `make` writes. */
function initFrom(name: string, expect: string, make: (e: E) => string | Promise<string>, messages: (RegExp | ((e: E) => RegExp | string))[], o: { exit?: 0 | 1 | 2; timeoutMs?: number } = {}): C {
  let cfg = '';
  return {
    name,
    expect,
    exit: o.exit ?? 1,
    timeoutMs: o.timeoutMs,
    setup: async (e) => {
      const path = await make(e);
      const c = e.shared.config({ data: e.shared.data });
      (c.model as Record<string, unknown>).checkpoint = path;
      cfg = caseConfig(e, c);
    },
    argv: (e) => ['train', '--config', cfg, '--out', e.at('run')],
    messages,
    allowNew: o.exit === 0 ? [/^run\//] : [],
  };
}

const raw = (bytes: Buffer | string, name = 'weights.pth') => (e: E) => {
  writeFileSync(e.at(name), bytes);
  return e.at(name);
};

/** A resumable run folder whose latest checkpoint is `ck` (written by `make`). */
function resumeWith(name: string, expect: string, make: (e: E, path: string) => void | Promise<void>, messages: RegExp[]): C {
  return {
    name,
    expect,
    exit: 1,
    setup: async (e) => {
      mkdirSync(e.at('run', 'checkpoints'), { recursive: true });
      await make(e, e.at('run', 'checkpoints', 'step-00000002.safetensors'));
      writeFileSync(e.at('run', 'checkpoints', 'latest.json'), JSON.stringify({ file: 'step-00000002.safetensors', step: 2, epoch: 0 }));
      writeFileSync(e.at('run', 'config.json'), '{}\n');
      writeFileSync(e.at('run', 'log.jsonl'), '{"type":"start","step":0}\n');
    },
    argv: (e) => ['train', '--config', e.shared.trainConfig, '--out', e.at('run'), '--resume'],
    messages,
  };
}

const cases: C[] = [
  // ---- --checkpoint (our safetensors checkpoints)
  predictWith('empty-file', 'file is 0 bytes, shorter than the 8-byte header length', raw('', 'ck.safetensors'), [/ck\.safetensors: .*(0 bytes|empty)/]),
  predictWith('directory', 'is not a file', (e) => (mkdirSync(e.at('ckdir')), e.at('ckdir')), [/ckdir: is not a file/]),
  predictWith('missing-file', 'cannot read: not found (ENOENT), naming the path', (e) => e.at('nope.safetensors'), [/nope\.safetensors: cannot read: ENOENT/]),
  predictWith('truncated-half', 'data_offsets end past the data section (file truncated?)', (e) => edit(e, (p) => assemble(p.header, p.data).subarray(0, 8 + JSON.stringify(p.header).length + Math.floor(p.data.length / 2))), [/ck\.safetensors: not a valid safetensors file: entry ".*" data_offsets end \d+ is past the data section .*file truncated\?/]),
  predictWith('truncated-in-header', 'header length runs past the end of the file', (e) => edit(e, (p) => assemble(p.header, p.data).subarray(0, 200)), [/ck\.safetensors: not a valid safetensors file: header length \d+ runs past the end of the file \(200 bytes\)/]),
  predictWith('header-length-past-eof', 'header length runs past the end of the file', (e) => edit(e, (p) => assemble(p.header, p.data, BigInt(JSON.stringify(p.header).length + p.data.length + 100))), [/header length \d+ runs past the end of the file/]),
  predictWith('header-length-huge', 'header length exceeds the 100 MB limit (no allocation)', (e) => edit(e, (p) => assemble(p.header, p.data, 1n << 40n)), [/header length 1099511627776 exceeds the 104857600-byte limit/]),
  predictWith('header-not-json', 'header is not JSON', (e) => edit(e, (p) => { const b = assemble(p.header, p.data); b[8] = 0x78; return b; }), [/ck\.safetensors: not a valid safetensors file: header is not JSON/]),
  predictWith('overlapping-offsets', 'entries overlap', (e) => edit(e, (p) => {
    const names = Object.keys(p.header).filter((k) => k !== '__metadata__');
    const [a, b] = names.filter((n) => p.header[n]!.dtype === 'F32' && p.header[n]!.shape.length === 1).slice(0, 2);
    const ea = p.header[a!]!;
    const eb = p.header[b!]!;
    const len = eb.data_offsets[1] - eb.data_offsets[0];
    eb.data_offsets = [ea.data_offsets[0], ea.data_offsets[0] + len];
  }), [/not a valid safetensors file: entries ".*" and ".*" overlap/]),
  predictWith('offsets-span-mismatch', 'dtype x shape needs N bytes but data_offsets span M', (e) => edit(e, (p) => { const t = p.header[firstTensor(p.header)]!; t.data_offsets = [t.data_offsets[0], t.data_offsets[1] - 4]; }), [/entry ".*": float32 \[.*\] needs \d+ bytes but data_offsets span \d+/]),
  predictWith('negative-shape', 'entry has an invalid shape', (e) => edit(e, (p) => void (p.header[firstTensor(p.header)]!.shape = [-1, 4])), [/entry ".*" has an invalid shape \[-1,4\]/]),
  predictWith('unsupported-dtype', 'unsupported dtype "F8_E4M3" lists the supported ones', (e) => edit(e, (p) => void (p.header[firstTensor(p.header)]!.dtype = 'F8_E4M3')), [/entry ".*" has unsupported dtype "F8_E4M3" \(supported: F32, F16/]),
  predictWith('metadata-not-strings', '__metadata__ values must be strings', (e) => edit(e, (p) => void ((p.header as Record<string, unknown>).__metadata__ = { checkpoint: 3 })), [/__metadata__\.checkpoint must be a string/]),
  predictWith('no-checkpoint-metadata', 'a plain safetensors file is not a barleria-zoo checkpoint', (e) => edit(e, (p) => void delete (p.header as Record<string, unknown>).__metadata__), [/ck\.safetensors: is not a barleria-zoo checkpoint \(no "checkpoint" metadata\); to initialise from an official checkpoint use model\.checkpoint/]),
  predictWith('metadata-not-json', 'checkpoint metadata is not JSON', (e) => edit(e, (p) => void ((p.header as Record<string, Record<string, string>>).__metadata__!.checkpoint = '{oops')), [/ck\.safetensors: checkpoint metadata is not JSON/]),
  predictWith('unsupported-format', 'unsupported checkpoint format (expected barleria-zoo/checkpoint@1)', (e) => edit(e, (p) => {
    const m = (p.header as Record<string, Record<string, string>>).__metadata__!;
    m.checkpoint = JSON.stringify({ ...JSON.parse(m.checkpoint!), format: 'barleria-zoo/checkpoint@9' });
  }), [/unsupported checkpoint format "barleria-zoo\/checkpoint@9" \(expected barleria-zoo\/checkpoint@1\)/]),
  predictWith('random-bytes', 'not a checkpoint: first bytes shown', raw(Buffer.from('89abcdef0123456789abcdef0123456789', 'hex'), 'ck.safetensors'), [/ck\.safetensors: .*(not a checkpoint|not a valid safetensors)/]),
  predictWith('torch-zip-given', 'a torch.save archive is not a zoo checkpoint; use model.checkpoint', raw(torchZip(pickleForbiddenGlobal()), 'official.pth'), [/official\.pth: is a torch\.save \(zip\) file, not a checkpoint written by `zoo train`.*model\.checkpoint/]),
  predictWith('jpeg-given', 'a JPEG image is not a checkpoint (first bytes named: a JPEG image)', async (e) => raw(await jpeg(8, 8), 'ck.safetensors')(e), [/ck\.safetensors: is not a checkpoint: .*\(first bytes ff d8 ff .*: a JPEG image\)/]),
  predictWith('other-config-shapes', 'checkpoint of a wider model: tensors of the wrong shape, named with both shapes', async (e) => {
    await writeModelCheckpoint(e.at('wide.safetensors'), e.shared.config({ width: 32 }));
    return e.at('wide.safetensors');
  }, [/wide\.safetensors: .*wrong shape/, /model \[.*\], file \[.*\]/]),
  predictWith('other-config-adapters', 'checkpoint without the LIM adapter: does not fit this model, lists the missing tensors', async (e) => {
    await writeModelCheckpoint(e.at('noadapter.safetensors'), e.shared.config({ adapters: [] }));
    return e.at('noadapter.safetensors');
  }, [/noadapter\.safetensors does not fit this model \(built from a different config\?\)/, /missing: intertwiner\./]),
  predictWith('dtype-mismatch', 'a float parameter stored as int32 is refused, naming the tensor', async (e) => {
    await writeModelCheckpoint(e.at('ck.safetensors'), e.shared.config(), (ts) => {
      const i = ts.findIndex(([n, t]) => t.dtype === 'float32' && n.startsWith('model/'));
      const [n, t] = ts[i]!;
      ts[i] = [n, { dtype: 'int32', shape: t.shape, data: Int32Array.from(t.data as Float32Array, (x) => Math.round(x)) }];
    });
    return e.at('ck.safetensors');
  }, [/ck\.safetensors: tensor "model\/.*" is int32; the model's .* is float32/]),
  predictWith('float16-weights', 'a float16 copy of the weights is refused (our checkpoints are float32)', async (e) => {
    await writeModelCheckpoint(e.at('ck.safetensors'), e.shared.config(), (ts) => {
      for (let i = 0; i < ts.length; i++) {
        const [n, t] = ts[i]!;
        if (t.dtype === 'float32') ts[i] = [n, { dtype: 'float16', shape: t.shape, data: Uint16Array.from(t.data as Float32Array, (x) => floatToHalf(x)) }];
      }
    });
    return e.at('ck.safetensors');
  }, [/tensor "model\/.*" is float16; the model's .* is float32/]),
  predictWith('nan-weight', 'NaN weights refused, naming the tensor and the count', async (e) => {
    await writeModelCheckpoint(e.at('ck.safetensors'), e.shared.config(), (ts) => {
      const t = ts.find(([n]) => n.includes('intertwiner'))![1];
      (t.data as Float32Array)[0] = NaN;
      (t.data as Float32Array)[1] = NaN;
    });
    return e.at('ck.safetensors');
  }, [/ck\.safetensors: tensor "model\/intertwiner\.[^"]+" holds 2 NaN\/Inf values/]),
  predictWith('inf-weight', 'Inf weights refused, naming the tensor', async (e) => {
    await writeModelCheckpoint(e.at('ck.safetensors'), e.shared.config(), (ts) => {
      const t = ts.find(([n, x]) => n.includes('decoder') && x.dtype === 'float32')![1];
      (t.data as Float32Array)[3] = -Infinity;
    });
    return e.at('ck.safetensors');
  }, [/tensor "model\/decoder\.[^"]+" holds 1 NaN\/Inf value/]),
  predictWith('safetensors-renamed-pt', 'accepted: the format is told by its bytes, not its extension', (e) => copyInto(e.shared.checkpoint, e.at('tiny.pt')), [], 0),
  // ---- model.checkpoint (any supported format: ours, torch.save, TorchScript)
  initFrom('init-empty-file', 'is not a checkpoint (the file is empty)', raw(''), [/weights\.pth: is not a checkpoint: .*none: the file is empty/]),
  initFrom('init-directory', 'is not a file', (e) => (mkdirSync(e.at('weights.pth')), e.at('weights.pth')), [/weights\.pth: is not a file/]),
  initFrom('init-text-file', 'is not a checkpoint (first bytes: text "...")', raw('this is not a checkpoint at all\n'), [/weights\.pth: is not a checkpoint: .*text "this is not a checkpoint/]),
  initFrom('init-truncated-zip', 'truncated torch.save zip: names the file', (e) => raw(torchZip(pickleDeepNesting(10, 'state_dict')).subarray(0, 60))(e), [/weights\.pth: /]),
  initFrom('init-zip-wrong-magic', 'a zip whose end record is corrupt', (e) => {
    const z = torchZip(pickleDeepNesting(10, 'state_dict'));
    z.writeUInt32LE(0xdeadbeef, z.length - 22);
    return raw(z)(e);
  }, [/weights\.pth: /]),
  initFrom('init-forbidden-global', 'a pickle calling os.system is refused, naming the global', raw(torchZip(pickleForbiddenGlobal())), [/weights\.pth: .*refuses to load global "os\.system": only data is read/]),
  initFrom('init-deep-nesting', '100k nested lists: nests deeper than 500 levels', raw(torchZip(pickleDeepNesting(100_000, 'state_dict'))), [/weights\.pth: data nests deeper than 500 levels/], { timeoutMs: 10_000 }),
  initFrom('init-shared-reference-bomb', '2^64 leaves through shared references: refused at once, not expanded', raw(torchZip(pickleSharedBomb(64, 'epoch'))), [/weights\.pth: .*(shared references|pickle bomb)/], { timeoutMs: 10_000 }),
  initFrom('init-raw-pickle-global', 'a bare pickle (not torch.save) calling os.system: refused', raw(pickleForbiddenGlobal()), [/weights\.pth: /]),
  initFrom('init-nan-weight', 'NaN in model.checkpoint refused, naming the tensor', async (e) => {
    await writeModelCheckpoint(e.at('init.safetensors'), e.shared.config(), (ts) => void ((ts.find(([n]) => n.includes('intertwiner'))![1].data as Float32Array)[0] = NaN));
    return e.at('init.safetensors');
  }, [/init\.safetensors: tensor "intertwiner\.[^"]+" holds 1 NaN\/Inf value/]),
  initFrom('init-other-config-shapes', 'model.checkpoint of a wider model: wrong shape, names the file', async (e) => {
    await writeModelCheckpoint(e.at('wide.safetensors'), e.shared.config({ width: 32 }));
    return e.at('wide.safetensors');
  }, [/wide\.safetensors: .*wrong shape/]),
  initFrom('init-own-checkpoint-renamed', 'accepted: our own checkpoint (renamed .pt) initialises the model (every tensor loaded)', (e) => copyInto(e.shared.checkpoint, e.at('init.pt')), [/loaded .*init\.pt: [1-9]\d* loaded, \d+ missing, 0 unexpected, 0 with the wrong shape/], { exit: 0 }),
  initFrom('init-nothing-matches', 'a checkpoint whose names match nothing in the model is refused, not silently ignored', (e) => {
    writeFileSync(e.at('other.safetensors'), Buffer.concat(encodeSafetensors([['encoder.layer.0.weight', { dtype: 'float32', shape: [2], data: new Float32Array(2) }]])));
    return e.at('other.safetensors');
  }, [/model\.checkpoint .*other\.safetensors: no tensor name matches the model \(1 tensors in the file\): 0 loaded/, /unexpected: encoder\.layer\.0\.weight/]),
  // ---- --resume with a broken latest checkpoint: the run folder is left as it was
  resumeWith('resume-truncated', 'latest checkpoint truncated: names the file, run folder untouched', (e, p) => void writeFileSync(p, readFileSync(e.shared.checkpoint).subarray(0, 5000)), [/step-00000002\.safetensors: not a valid safetensors file/]),
  resumeWith('resume-empty', 'latest checkpoint empty (killed before any byte)', (_e, p) => void writeFileSync(p, ''), [/step-00000002\.safetensors: .*0 bytes/]),
  resumeWith('resume-other-config', 'latest checkpoint from another config: does not fit', async (e, p) => writeModelCheckpoint(p, e.shared.config({ adapters: [] })), [/step-00000002\.safetensors does not fit this model/]),
];

corpus('checkpoint', cases, shared, base);

export { cases as checkpointCases };
