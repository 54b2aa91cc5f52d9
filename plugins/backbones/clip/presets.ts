/** Published CLIP architectures (dims as OpenAI's build_model infers them from the checkpoints). */
export interface ClipDims {
  visionWidth: number;
  visionLayers: number;
  visionHeads: number;
  patchSize: number;
  /** Patch grid of the checkpoint's positional embedding (224 / patch for OpenAI). */
  pretrainedGrid: number;
  textWidth: number;
  textLayers: number;
  textHeads: number;
  vocabSize: number;
  contextLength: number;
  embedDim: number;
}

export const CLIP_PRESETS: Record<string, ClipDims> = {
  'ViT-B/16': { visionWidth: 768, visionLayers: 12, visionHeads: 12, patchSize: 16, pretrainedGrid: 14, textWidth: 512, textLayers: 12, textHeads: 8, vocabSize: 49408, contextLength: 77, embedDim: 512 },
  'ViT-B/32': { visionWidth: 768, visionLayers: 12, visionHeads: 12, patchSize: 32, pretrainedGrid: 7, textWidth: 512, textLayers: 12, textHeads: 8, vocabSize: 49408, contextLength: 77, embedDim: 512 },
  'ViT-L/14': { visionWidth: 1024, visionLayers: 24, visionHeads: 16, patchSize: 14, pretrainedGrid: 16, textWidth: 768, textLayers: 12, textHeads: 12, vocabSize: 49408, contextLength: 77, embedDim: 768 },
};

/**
 * SHA-256 of the official OpenAI files (from the URLs in openai/CLIP clip.py,
 * whose path component is the file's sha256), so users can check a download.
 */
export const OPENAI_CHECKSUMS: Record<string, { file: string; sha256: string }> = {
  'ViT-B/16': { file: 'ViT-B-16.pt', sha256: '5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f' },
  'ViT-L/14': { file: 'ViT-L-14.pt', sha256: 'b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836' },
  'ViT-B/32': { file: 'ViT-B-32.pt', sha256: '40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af' },
};
