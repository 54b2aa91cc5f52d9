/**
 * dataset/refcoco: RefCOCO, RefCOCO+ and RefCOCOg (umd / google) from the original REFER
 * release or from the CRIS/ETRIS/BarLeRIa preparation, auto-detected. See README.md.
 */
import { isAbsolute, resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import type { DatasetContext } from '../../../core/data/contracts.js';
import { definePlugin } from '../../../core/registry/manifest.js';
import { CrisLayoutSource } from './cris-layout.js';
import { detectLayout, resolveImagesRoot, type Layout } from './layout.js';
import { REFCOCO_NAMES, refcocoDataset, type RefcocoName } from './names.js';
import { ReferSource } from './refer.js';

export const RefcocoOptionsSchema = Type.Object(
  {
    root: Type.String({ description: 'Data root: holds refcoco/ refcoco+/ refcocog/ (REFER release) or anns/ and masks/ (CRIS preparation), and usually images/train2014/. Relative to the config file.' }),
    dataset: Type.Union(
      REFCOCO_NAMES.map((n) => Type.Literal(n)),
      { default: 'refcoco', description: 'refcoco, refcoco+ (splitBy unc), refcocog_u (umd) or refcocog_g (google).' },
    ),
    layout: Type.Union([Type.Literal('auto'), Type.Literal('refer'), Type.Literal('cris')], {
      default: 'auto',
      description: "'refer': <root>/<dataset>/refs(<splitBy>).p + instances.json; 'cris': <root>/anns/<dataset>/<split>.json + masks/<dataset>/<id>.png; 'auto': cris when complete, else refer.",
    }),
    imagesRoot: Type.Optional(Type.String({ description: 'COCO train2014 images (default: the first of <root>/images/train2014, <root>/images/mscoco/images/train2014, <root>/train2014).' })),
    exifOrientation: Type.Boolean({ default: true, description: 'Apply the EXIF orientation of images, as cv2.imread/imdecode do.' }),
    checkOfficialSizes: Type.Boolean({ default: true, description: 'Warn when a split has a different number of referred objects than the official one.' }),
  },
  { additionalProperties: false },
);

export type RefcocoOptions = Static<typeof RefcocoOptionsSchema>;

/** The source `create` returns: either reader, with the layout it detected. */
export type RefcocoSource = (ReferSource | CrisLayoutSource) & { readonly layout: Layout };

/** Open a RefCOCO-family dataset (also usable without the registry). */
export function openRefcoco(options: RefcocoOptions, ctx: DatasetContext): RefcocoSource {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(ctx.baseDir, p));
  const dataset = (options.dataset ?? 'refcoco') as RefcocoName;
  const info = refcocoDataset(dataset, `${ctx.where}.dataset`);
  const root = abs(options.root);
  const layout = detectLayout(root, dataset, options.layout ?? 'auto', ctx.where);
  const imagesRoot = resolveImagesRoot(root, options.imagesRoot === undefined ? undefined : abs(options.imagesRoot), ctx.where);
  const common = {
    name: dataset,
    root,
    splits: info.splits,
    imagesRoot,
    exifOrientation: options.exifOrientation ?? true,
    checkOfficialSizes: options.checkOfficialSizes ?? true,
    warn: ctx.warn,
  };
  const source = layout === 'refer' ? new ReferSource({ ...common, dir: info.dir, splitBy: info.splitBy }) : new CrisLayoutSource(common);
  return Object.assign(source, { layout });
}

export default definePlugin({
  kind: 'dataset',
  name: 'refcoco',
  description: 'RefCOCO / RefCOCO+ / RefCOCOg (umd, google) from the REFER release or the CRIS/ETRIS preparation',
  schema: RefcocoOptionsSchema,
  create: (options: RefcocoOptions, ctx: DatasetContext): RefcocoSource => openRefcoco(options, ctx),
});

export { OFFICIAL_SPLIT_SIZES, REFCOCO_DATASETS, REFCOCO_NAMES, COCO_CATEGORY_NAMES, refcocoDataset, referSplitMatches, compareOfficialSizes } from './names.js';
export { ReferSource, referFiles, type ReferSourceOptions, type ReferMaskRef } from './refer.js';
export { CrisLayoutSource, crisDirs, type CrisSourceOptions, type CrisMaskRef } from './cris-layout.js';
export { detectLayout, layoutProbe, resolveImagesRoot, imageRootCandidates, type Layout, type LayoutOption } from './layout.js';
