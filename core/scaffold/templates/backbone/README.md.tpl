# backbone/__NAME__

Scaffolded by `zoo new backbone __NAME__`. It already works, and fits the
`cris` head with the default two blocks:

- **vision**: `patch_embed` (a `patchSize` x `patchSize` conv with that
  stride) to a `[B, h, w, width]` grid, then `layers` MetaFormer-style
  blocks, each `x + mixer(norm1 x)` (3x3 conv token mixer) then
  `x + mlp(norm2 x)`. A stage feature is taken after every block; the last
  stage is `proj(norm(x))` with `embedDim` channels. All stages share the grid
  (like a ViT), so `stageChannels = [width x layers, embedDim]`.
- **text**: a bag of word embeddings (`token_embedding`, ids from a built-in
  hashing tokenizer: no vocabulary file), pooled by a masked mean and
  projected (`text_proj`) to the sentence state `[B, embedDim]`. Word
  features `[B, L, textWidth]` go to the head as they are.

| file | what it holds |
|---|---|
| `index.ts` | the manifest (`definePlugin`: kind, name, one-line description, options schema, factory) and `Options`, the TypeBox schema that is also the options type |
| `__NAME__.ts` | the tokenizer, the block, the encoder (`__PASCAL__Encoder`) and the factory `create__PASCAL__` that returns the `Backbone` |
| `__NAME__.test.ts` | builds a tiny model with the cris head, checks shapes, hook points, weight loading, and trains one step |

It is registered in `plugins/index.ts`, so configs use it as
`"backbone": {"type": "__NAME__"}` and `zoo list backbone` / `zoo schema backbone/__NAME__` show it.

## The contract (core/model/contracts.ts)

- `spec: BackboneSpec`: the shapes heads and adapters size themselves from
  (`visionWidth`, `visionLayers`, `textWidth`, `textLayers`, `embedDim`,
  `grid`, `patchSize`, `stageChannels`, `blockPath(tower, i)` for adapters that
  mount inside a block) and `hookPoints`.
- `forward(inputs, hooks, ctx)`: runs inside the model's tidy scope, calls
  `hooks.run(point, value, ctx)` at each published point in order, returns
  `BackboneFeatures` `{visStages, words, state, padMask}`.
- `trainableUnderPet(name)`: what the default `model.freeze.backbone: "pet"`
  keeps trainable. Here nothing (nothing is pretrained); set
  `"freeze": {"backbone": "trainable"}` to train it from scratch.
- `lrGroup(name)`, `tokenizer()`, `loadPretrained()` (option `weights`: a
  safetensors or torch.save file with the names below).

Parameter names (the state dict, under `backbone.` in the model):
`patch_embed.weight`, `blocks.<i>.norm1.*`, `blocks.<i>.mixer.*`,
`blocks.<i>.norm2.*`, `blocks.<i>.mlp.fc1.*`, `blocks.<i>.mlp.fc2.*`, `norm.*`,
`proj.*`, `token_embedding.weight`, `text_proj.*`.

## Hook points it publishes

| point | value | meaning |
|---|---|---|
| `image` | `Tensor [B, S, S, 3]` | normalised input image, before the patch embedding |
| `vision.block.{i}.branch.attn` | `{x, y}` | `x` = block input after `norm1` `[B, h, w, width]`, `y` = token-mixer output; return `{x, y'}` |
| `vision.block.{i}.branch.mlp` | `{x, y}` | `x` = input after `norm2`, `y` = MLP output |
| `text.words` | `Tensor [B, L, textWidth]` | word embeddings before pooling; return a replacement of the same shape |
| `outputs` | `BackboneFeatures` | what the head receives |

The branch points have the names and values of `backbone/clip`'s, so adapters
written against CLIP's branches (the `bottleneck` adapter, a scaffolded
`zoo new adapter`) attach here unchanged (on NHWC grids instead of token
sequences: they act on the last axis). There are no text blocks
(`textLayers: 0`), no `*.shortcut.*`, `embed` or `block.{i}.after` points:
adapters that need those (SNF, LIM, the Bridger) report the missing point
when the model is built.

## Options

| option | default | meaning |
|---|---|---|
| `width` | 64 | channels of the vision blocks |
| `layers` | 2 | vision blocks (2 gives the 3 stages of the cris head) |
| `patchSize` | 8 | patch size |
| `textWidth` | 64 | word feature width (even for the cris head) |
| `embedDim` | 64 | last stage channels and sentence state width |
| `vocabSize` | 4096 | hashing tokenizer ids (0 padding, buckets, SOT, EOT) |
| `weights` | none | weights to load |

With the cris head: `visDim` = `fpnOut[1]`, `embedDim` = the head's word
dim (automatic), `textWidth` even, `visDim` divisible by its heads.

## What to fill in

1. **The encoders.** Replace `__PASCAL__Encoder` with your architecture; keep
   parameter names equal to the checkpoints you want to load.
2. **Hook points.** Publish a point wherever an adapter may need to observe
   or change the computation, document it in `hookPoints()` and here; call
   `hooks.run` at it (use `hooks.active(point)` to skip work nobody listens to).
3. **The tokenizer.** For a pretrained text encoder, return its tokenizer
   (see `plugins/backbones/clip/tokenizer` for CLIP's BPE).
4. **PET rule and lr groups**: `trainableUnderPet`, `lrGroup`.
5. **Options** in `index.ts` (defaults and descriptions), the one-line
   description, this README, and the test.

## Test

    npx vitest run plugins/backbones/__NAME__
    npx tsc --noEmit -p .
