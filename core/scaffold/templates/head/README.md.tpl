# head/__NAME__

Scaffolded by `zoo new head __NAME__`. It already works: a minimal
referring-segmentation head over the backbone's last stage feature,

    f      = relu(proj(v)) · sigmoid(gate(s))        v: last stage [B, h, w, C], s: sentence state [B, D]
    logits = upsample(classifier(f), upsample)       [B, h·upsample, w·upsample, 1]

with `proj` and `classifier` 1x1 convolutions and `gate` a linear layer. It
uses no word features; the sentence gates the channels.

| file | what it holds |
|---|---|
| `index.ts` | the manifest (`definePlugin`: kind, name, one-line description, options schema, factory) and `Options`, the TypeBox schema that is also the options type |
| `__NAME__.ts` | the module (`__PASCAL__Head`) and the factory `create__PASCAL__` that returns the `Head` |
| `__NAME__.test.ts` | builds a tiny model from a config that uses the head and trains one step |

It is registered in `plugins/index.ts`, so configs use it as
`"head": {"type": "__NAME__"}` and `zoo list head` / `zoo schema head/__NAME__` show it.

## The contract (core/model/contracts.ts)

- **Input**: `BackboneFeatures` from the backbone (after its `outputs` hook
  point ran): `visStages` (NHWC stage features; the last is the projected one,
  `spec.stageChannels` gives their channels), `words` `[B, L, textWidth]`,
  `state` `[B, embedDim]`, `padMask` `[B, L]` (true at padding).
- **Output**: mask logits NHWC `[B, h, w, 1]` at any resolution (the loss
  resizes the mask to it; evaluation upsamples to the input size).
- **Mounts**: its modules at the model root, here `head` (parameters
  `head.proj.weight`, `head.gate.weight`, `head.classifier.weight` and biases).
  Use the names of the checkpoints you want to load.
- **Sizing**: the factory reads `ctx.backbone` (`stageChannels`, `embedDim`,
  `textWidth`, `grid`) and throws a ConfigError naming `ctx.where` when the
  backbone does not fit.

## Hook points

| point | value | meaning |
|---|---|---|
| `head.features` | `Tensor [B, h, w, hidden]` (`channels` = hidden) | text-gated features before the classifier; a handler returns the replacement (a side network adds its feature here, as GST does at `head.neck` of the CRIS head) |

It attaches to none. Adapters that add to a head point declare it in
`requires` like any backbone point.

## Options

| option | default | meaning |
|---|---|---|
| `hidden` | 64 | width of the gated features |
| `upsample` | 4 | upsampling factor of the logits from the last stage grid |

## What to fill in

1. **Fusion.** Replace the channel gate with your vision-language fusion
   (cross-attention to `words` with `padMask`, as the CRIS neck/decoder does).
2. **Multi-scale.** Use more of `visStages` (check `ctx.backbone.stageChannels`
   and their number in the factory).
3. **Hook points.** Keep `head.features` (or rename it) where side networks
   should add; declare each point in `hookPoints` with its value and channels.
4. **Options** in `index.ts` (defaults and descriptions: `zoo schema` prints
   them), the one-line description, and this README.
5. **The test**: keep the shape and training checks; add reference values if
   you port a published head.

## Test

    npx vitest run plugins/heads/__NAME__
    npx tsc --noEmit -p .
