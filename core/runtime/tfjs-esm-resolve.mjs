// Node ESM resolve hook. tfjs-core publishes its per-file ES modules (the only
// place its gradient registrations live) with extensionless and directory
// specifiers that Node's ESM resolver rejects. This hook completes those
// specifiers, and only inside tfjs-core's own dist folder.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const TFJS_DIST = '/@tensorflow/tfjs-core/dist/';

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent && parent.includes(TFJS_DIST) && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    const path = fileURLToPath(new URL(specifier, parent));
    if (existsSync(path + '.js')) return nextResolve(specifier + '.js', context);
    if (existsSync(path) && statSync(path).isDirectory()) return nextResolve(specifier + '/index.js', context);
  }
  return nextResolve(specifier, context);
}
