import { Type, type Static } from '@sinclair/typebox';

const Int = (description: string, minimum = 1) => Type.Optional(Type.Integer({ minimum, description }));

export const ClipOptionsSchema = Type.Object(
  {
    preset: Type.Union([Type.Literal('ViT-B/16'), Type.Literal('ViT-B/32'), Type.Literal('ViT-L/14'), Type.Literal('custom')], {
      default: 'ViT-B/16',
      description: 'Architecture when no weights are given (with weights, the dims are inferred from the file as OpenAI build_model does).',
    }),
    weights: Type.Optional(Type.String({ description: 'CLIP weights: OpenAI .pt (TorchScript), torch.save .pth, or .safetensors (OpenAI or Hugging Face names).' })),
    vocab: Type.Optional(Type.String({ description: 'Tokenizer vocabulary: bpe_simple_vocab_16e6.txt.gz (or a merges file made by `zoo pretrain-clip`), or a Hugging Face vocab.json (merges.txt beside it).' })),
    stageLayers: Type.Array(Type.Integer({ minimum: 1 }), {
      default: [4, 8],
      description: 'Vision stage features are the patch tokens after these blocks (1-based); the last stage is ln_post(patches) @ proj.',
    }),
    visionWidth: Int('custom: vision width'),
    visionLayers: Int('custom: vision blocks'),
    visionHeads: Int('custom: vision heads (default width/64)'),
    patchSize: Int('custom: patch size'),
    pretrainedGrid: Int('custom: patch grid of the positional embedding as stored in checkpoints'),
    textWidth: Int('custom: text width'),
    textLayers: Int('custom: text blocks'),
    textHeads: Int('custom: text heads (default width/64)'),
    vocabSize: Int('custom: vocabulary size'),
    contextLength: Int('custom: text positional table length'),
    embedDim: Int('custom: joint embedding width'),
  },
  { additionalProperties: false },
);

export type ClipOptions = Static<typeof ClipOptionsSchema>;
