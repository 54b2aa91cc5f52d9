/**
 * Which of the two on-disk layouts a data root holds, and where its images are.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../../core/errors.js';
import { crisDirs } from './cris-layout.js';
import { refcocoDataset, type RefcocoName } from './names.js';
import { referFiles } from './refer.js';

export type LayoutOption = 'auto' | 'refer' | 'cris';
export type Layout = 'refer' | 'cris';

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/** What each layout needs under `root`, and whether it is there. */
export function layoutProbe(root: string, dataset: RefcocoName): Record<Layout, { needs: string[]; missing: string[] }> {
  const info = refcocoDataset(dataset);
  const refer = referFiles(root, info.dir, info.splitBy);
  const referNeeds = [refer.refs, refer.instances];
  const cris = crisDirs(root, dataset);
  const crisNeeds = [join(cris.anns, '<split>.json'), `${cris.masks}/`];
  const crisMissing: string[] = [];
  if (!isDir(cris.anns) || !readdirSync(cris.anns).some((f) => f.endsWith('.json'))) crisMissing.push(crisNeeds[0]!);
  if (!isDir(cris.masks)) crisMissing.push(crisNeeds[1]!);
  return {
    refer: { needs: referNeeds, missing: referNeeds.filter((p) => !existsSync(p)) },
    cris: { needs: crisNeeds, missing: crisMissing },
  };
}

/**
 * The layout to read: the one asked for (ConfigError naming what is missing), or with
 * 'auto' the CRIS layout when complete (what the official numbers were computed from),
 * else the REFER release; a ConfigError listing both when neither is there.
 */
export function detectLayout(root: string, dataset: RefcocoName, option: LayoutOption = 'auto', where = 'dataset'): Layout {
  if (!isDir(root)) throw new ConfigError(`${where}.root: ${root} is not a directory`);
  const probe = layoutProbe(root, dataset);
  if (option !== 'auto') {
    const p = probe[option];
    if (p.missing.length) throw new ConfigError(`${where}: layout "${option}" for ${dataset} needs ${p.missing.join(' and ')}, not found`);
    return option;
  }
  if (probe.cris.missing.length === 0) return 'cris';
  if (probe.refer.missing.length === 0) return 'refer';
  throw new ConfigError(
    `${where}: no ${dataset} data under ${root}. Looked for\n` +
      `  the REFER release: ${probe.refer.needs.join(', ')}\n` +
      `  the CRIS/ETRIS preparation: ${probe.cris.needs.join(', ')}\n` +
      `Download refcoco*.zip from lichengunc/refer into the root, or run the official tools/data_process.py.`,
  );
}

/** Image folders tried when `imagesRoot` is not given, in order. */
export function imageRootCandidates(root: string): string[] {
  return [join(root, 'images', 'train2014'), join(root, 'images', 'mscoco', 'images', 'train2014'), join(root, 'train2014')];
}

/** The given images folder (must exist) or the first candidate that exists; ConfigError otherwise. */
export function resolveImagesRoot(root: string, imagesRoot: string | undefined, where = 'dataset'): string {
  if (imagesRoot !== undefined) {
    if (!isDir(imagesRoot)) throw new ConfigError(`${where}.imagesRoot: ${imagesRoot} is not a directory`);
    return imagesRoot;
  }
  const c = imageRootCandidates(root);
  const found = c.find(isDir);
  if (!found) throw new ConfigError(`${where}: no COCO train2014 image folder found; looked for ${c.join(', ')} (set imagesRoot)`);
  return found;
}
