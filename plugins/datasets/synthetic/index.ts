/**
 * Synthetic referring-segmentation dataset in the REFER (RefCOCO) layout: rendered
 * shape scenes, COCO polygons, referring expressions that each denote exactly one
 * object, RefCOCO-like splits, and scene captions for CLIP pretraining. See README.md.
 */
export {
  GENERATOR_VERSION,
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  ensureSyntheticDataset,
  generateSyntheticDataset,
  planSyntheticDataset,
  readSyntheticManifest,
  syntheticDatasetMatches,
  type GenerationResult,
  type PlannedImage,
  type SyntheticCounts,
  type SyntheticManifest,
  type SyntheticPlan,
} from './generate.js';
export {
  SYNTHETIC_DEFAULTS,
  SYNTHETIC_OPTIONS_SCHEMA,
  resolveSyntheticOptions,
  type SyntheticOptions,
  type SyntheticOptionsInput,
} from './options.js';
export { evaluate, parseExpression, normalizeSentence, exprKey, vocabularyWords, type RefExpr, type Desc, type SceneItem, type SceneLayout } from './expressions.js';
export { polygonMask, polygonPixelArea } from './geometry.js';
export {
  BACKGROUNDS,
  COLORS,
  COLOR_RGB,
  ROUND_SHAPES,
  SHAPES,
  SPLITS,
  categoryId,
  shapeGroup,
  type BackgroundKind,
  type ColorName,
  type ShapeName,
  type SizeName,
  type SplitName,
} from './vocabulary.js';
export {
  DEFAULT_SYNTHETIC_ROOT,
  SyntheticPluginSchema,
  SyntheticSource,
  generatorOptions,
  openSynthetic,
  type SyntheticPluginOptions,
} from './plugin.js';
