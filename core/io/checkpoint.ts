/**
 * One entry point for weights on disk: safetensors, torch.save (zip or legacy)
 * and TorchScript archives, told apart by their first bytes (not the file
 * extension). torch.save checkpoints are unwrapped (`state_dict`, `model`...),
 * nested dicts are flattened to dotted names and prefixes such as the DDP
 * `module.` can be stripped.
 */
import { readFileForParsing } from './read-file.js';
import { FileFormatError } from '../errors.js';
import type { RawTensor } from './raw-tensor.js';
import { parseSafetensors } from './safetensors.js';
import { parseTorch, stateDictTensors, holdsTensor, tensorData, torchScriptTensors } from './torch.js';
import { PyDict, PyTensor, pyTypeName, toPlain, type PyValue } from './pickle.js';
import { looksLikeZip } from './zip.js';

export type CheckpointFormat = 'safetensors' | 'torch.save' | 'torchscript';

export interface Checkpoint {
  path: string;
  format: CheckpointFormat;
  /** Tensors by (stripped) name, in file order. */
  tensors: Map<string, RawTensor>;
  /**
   * safetensors: the header's `__metadata__`. torch.save: the non-tensor
   * entries of the checkpoint (epoch, best score, optimizer summary...) as
   * plain data, plus `state_dict_key` when the weights were unwrapped from
   * one and `legacy_format: true` for pre-1.6 files. TorchScript: `archive`, `version`.
   */
  metadata: Record<string, unknown>;
}

export interface ReadCheckpointOptions {
  /**
   * Name prefixes to remove, e.g. ['module.'] for DDP checkpoints. Each is
   * removed wherever a name starts with it, repeatedly and in any order, so
   * ['module.', 'backbone.'] turns 'module.backbone.x' into 'x'.
   */
  strip?: readonly string[];
}

/** Keys under which training checkpoints keep the weights, in priority order. */
export const STATE_DICT_KEYS = ['state_dict', 'model', 'model_state_dict', 'module', 'net'] as const;
/** Top-level keys of a plain dict checkpoint that are training state, not weights. */
const TRAINING_STATE_KEYS = new Set(['optimizer', 'optimizer_state_dict', 'lr_scheduler', 'scheduler', 'scaler']);

export type CheckpointKind = 'safetensors' | 'zip' | 'pickle';

/** What the first bytes say the buffer is, or undefined. */
export function sniffCheckpoint(buf: Uint8Array): CheckpointKind | undefined {
  // safetensors: u64 LE header length (< 4 GiB, so bytes 4..7 are zero) then '{'.
  if (buf.length >= 9 && buf[8] === 0x7b && buf[4] === 0 && buf[5] === 0 && buf[6] === 0 && buf[7] === 0) return 'safetensors';
  if (looksLikeZip(buf)) return 'zip';
  if (buf.length >= 2 && buf[0] === 0x80 && buf[1]! >= 2 && buf[1]! <= 5) return 'pickle';
  return undefined;
}

function describeBytes(buf: Uint8Array): string {
  if (buf.length === 0) return 'none: the file is empty';
  const hex = Buffer.from(buf.subarray(0, 8)).toString('hex').replace(/(..)(?!$)/g, '$1 ');
  const b = Buffer.from(buf.subarray(0, 512));
  let what = '';
  if (b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) what = 'a PNG image';
  else if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) what = 'a JPEG image';
  else if (b.subarray(0, 4).toString('latin1') === 'GIF8') what = 'a GIF image';
  else if (b[0] === 0x1f && b[1] === 0x8b) what = 'gzip data';
  else if (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') what = 'a tar archive (the tar-based torch.save format of PyTorch < 0.4 is not supported: re-save it with a newer PyTorch)';
  else if (b[0] === 0x80) what = `a pickle of protocol ${b[1]}, which torch.save never writes`;
  else if ([...b.subarray(0, 64)].every((c) => c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127))) what = `text "${b.subarray(0, 24).toString('latin1').replace(/\s+/g, ' ')}..."`;
  return `${hex}${what ? `: ${what}` : ''}`;
}

function stripNames(tensors: Map<string, RawTensor>, strip: readonly string[], path: string): Map<string, RawTensor> {
  if (!strip.length) return tensors;
  const out = new Map<string, RawTensor>();
  const from = new Map<string, string>();
  for (const [name, t] of tensors) {
    let n = name;
    for (let changed = true; changed; ) {
      changed = false;
      for (const p of strip) {
        if (p && n.startsWith(p) && n.length > p.length) {
          n = n.slice(p.length);
          changed = true;
        }
      }
    }
    const prev = from.get(n);
    if (prev !== undefined) throw new FileFormatError(path, `stripping prefixes ${JSON.stringify(strip)} maps both "${prev}" and "${name}" to "${n}"`);
    from.set(n, name);
    out.set(n, t);
  }
  return out;
}

function plainEntries(d: PyDict, path: string, skip: (k: string, v: PyValue) => boolean): Record<string, unknown> {
  const meta: Record<string, unknown> = {};
  for (const [k, v] of d) {
    if (typeof k !== 'string' || skip(k, v)) continue;
    meta[k] = toPlain(v, path);
  }
  return meta;
}

/** Parse a checkpoint held in memory (see `readCheckpoint`). */
export function parseCheckpoint(buf: Buffer, path = '<buffer>', options: ReadCheckpointOptions = {}): Checkpoint {
  const kind = sniffCheckpoint(buf);
  if (!kind) {
    throw new FileFormatError(path, `is not a checkpoint: expected safetensors, a torch.save zip or a TorchScript archive (first bytes ${describeBytes(buf)})`);
  }
  const strip = options.strip ?? [];
  if (kind === 'safetensors') {
    const st = parseSafetensors(buf, path);
    return { path, format: 'safetensors', tensors: stripNames(new Map(st.entries()), strip, path), metadata: { ...st.metadata } };
  }
  const tf = parseTorch(buf, path);
  let refs: Map<string, PyTensor>;
  let metadata: Record<string, unknown>;
  if (tf.format === 'torchscript') {
    refs = torchScriptTensors(tf);
    metadata = { archive: tf.archiveName, version: tf.version };
  } else {
    const root = tf.root;
    if (root instanceof PyTensor) throw new FileFormatError(path, 'holds a single tensor, not a state dict');
    if (!(root instanceof PyDict)) throw new FileFormatError(path, `holds a ${pyTypeName(root)}, not a state dict or a checkpoint dict`);
    const key = STATE_DICT_KEYS.find((k) => {
      const v = root.get(k);
      return v instanceof PyDict && holdsTensor(v, path);
    });
    if (key !== undefined) {
      refs = stateDictTensors(root.get(key)!, path);
      metadata = { ...plainEntries(root, path, (k) => k === key), state_dict_key: key };
    } else {
      const weights = new PyDict();
      for (const [k, v] of root) if (!(typeof k === 'string' && TRAINING_STATE_KEYS.has(k))) weights.set(k, v);
      refs = stateDictTensors(weights, path);
      metadata = plainEntries(root, path, (k, v) => !TRAINING_STATE_KEYS.has(k) && (v instanceof PyTensor || (v instanceof PyDict && holdsTensor(v, path))));
    }
    if (tf.legacy) metadata.legacy_format = true;
  }
  const tensors = new Map<string, RawTensor>();
  for (const [name, t] of refs) tensors.set(name, tensorData(t, path, name));
  return { path, format: tf.format, tensors: stripNames(tensors, strip, path), metadata };
}

/**
 * Read weights from `path`: safetensors, torch.save (PyTorch >= 1.6 zip, or
 * the legacy pickle stream), or a TorchScript archive, chosen by magic bytes.
 * torch.save dicts holding `state_dict`/`model`/`model_state_dict`/`module`/`net`
 * are unwrapped (the other entries go to `metadata`); nested dicts become
 * dotted names. Tensors come back contiguous; fp16/bf16 stay half precision
 * (upcast with toFloat32) and int64 stays BigInt64Array.
 */
export function readCheckpoint(path: string, options: ReadCheckpointOptions = {}): Checkpoint {
  return parseCheckpoint(readFileForParsing(path), path, options);
}
