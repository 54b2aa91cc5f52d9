/** The dataset contract and the shared data pipeline. */
export type { Batch, DatasetContext, DatasetSource, PipelineOptions, RefRecord, SampleMeta, SamplingMode } from './contracts.js';
export { RisLoader, createRisLoader, type EpochOptions, type SkippedSample } from './pipeline.js';
export { SAMPLING_MODES, epochSamples, mixSeed, type SampleRef } from './sampling.js';
export { decodeImage, loadImageFile, loadMaskFile, readDataFile, type DecodeOptions } from './decode.js';
export {
  BadSampleError,
  SKIP_REASONS,
  describeSkipCounts,
  emptySkipCounts,
  isSkipReason,
  totalSkipped,
  type SkipCounts,
  type SkipReason,
} from './bad-sample.js';
