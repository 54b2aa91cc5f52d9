/**
 * The one place plugins register: every plugin folder's manifest is listed
 * here. `zoo new <kind> NAME` adds entries through the TypeScript AST.
 */
import type { AnyManifest } from '../core/registry/manifest.js';
import clip from './backbones/clip/index.js';
import snf from './adapters/snf/index.js';
import lim from './adapters/lim/index.js';
import bottleneck from './adapters/bottleneck/index.js';
import bridger from './adapters/bridger/index.js';
import gst from './adapters/gst/index.js';
import bce from './losses/bce/index.js';
import refcoco from './datasets/refcoco/index.js';
import synthetic from './datasets/synthetic/plugin.js';
import cris from './heads/cris/index.js';
import clipParity from './backbones/clip/parity-plugin.js';
import refsegParity from './parity/refseg/index.js';
import tokenizerParity from './backbones/clip/tokenizer/parity.js';

export const PLUGINS: AnyManifest[] = [clip, snf, lim, bridger, gst, bottleneck, cris, bce, refcoco, synthetic, clipParity, tokenizerParity, refsegParity];
