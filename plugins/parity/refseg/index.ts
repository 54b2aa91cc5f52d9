import { Type } from '@sinclair/typebox';
import { definePlugin } from '../../../core/registry/manifest.js';
import { refsegParity } from './handler.js';

export default definePlugin({
  kind: 'parity',
  name: 'refseg',
  description: 'BarLeRIa / No-Global / ETRIS model fixtures: eval prediction and intermediates, train loss, gradients, Adam step, BN stats',
  schema: Type.Object({}),
  create: () => refsegParity,
});
