import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { clipParity } from './parity.js';

export default definePlugin({
  kind: 'parity',
  name: 'clip',
  description: 'CLIP fixtures (clip_tiny format): resized positional embedding, block outputs, encode_image, encode_text',
  schema: Type.Object({}),
  create: () => clipParity,
});
