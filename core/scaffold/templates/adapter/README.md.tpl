# adapter/__NAME__

Scaffolded by `zoo new adapter __NAME__`. It already works: a low-rank update
added in parallel to a residual branch of chosen blocks,

    y' = y + (alpha / rank) · up(down(x))

where `x` is the branch input after LayerNorm and `y` the branch output. `up`
starts at zero, so a model with this adapter starts exactly equal to the
frozen model, and training moves only what the adapter adds.

| file | what it holds |
|---|---|
| `index.ts` | the manifest (`definePlugin`: kind, name, one-line description, options schema, factory) and `Options`, the TypeBox schema that is also the options type |
| `__NAME__.ts` | the module (`__PASCAL__Update`) and the factory `create__PASCAL__` that returns the `Adapter` |
| `__NAME__.test.ts` | builds a tiny model from a config that uses the adapter and trains one step |

It is registered in `plugins/index.ts` (one import and one entry of
`PLUGINS`), so configs can use it as `{"type": "__NAME__"}` in
`model.adapters`, and `zoo list adapter` / `zoo schema adapter/__NAME__` show it.

## Hook points it attaches to

| point | value | what the handler does |
|---|---|---|
| `<tower>.block.<i>.branch.<attn\|mlp>` for each `i` in `blocks` | `{x, y}`: `x` = branch input after `ln_1`/`ln_2` `[B, N, W]`, `y` = attention/MLP output `[B, N, W]` | returns `{x, y + s · up(down(x))}` |

These points are published by `backbone/clip` (see
`plugins/backbones/clip/README.md` for the full list: `image`, `embed`,
`*.shortcut.*`, `*.branch.*`, `block.{i}.after`, `outputs`) and by any backbone
that follows the same contract. The adapter lists them in `requires`; the model
builder checks them before anything is attached, so a config that names a
block the backbone does not have fails with a message naming the point and the
nearest existing one.

## Options

| option | default | meaning |
|---|---|---|
| `tower` | `vision` | `vision` or `text` |
| `branch` | `attn` | `attn` or `mlp`: which residual branch gets the update |
| `blocks` | all | 0-based block indices |
| `rank` | 4 | width r of `down` |
| `alpha` | 8 | the update is scaled by `alpha / rank` |

Example: `{"type": "__NAME__", "tower": "vision", "branch": "attn", "blocks": [8, 9, 10, 11], "rank": 8}`.

Parameters are mounted at the model root as
`__SNAKE___<tower>_<branch>.<k>.down.weight` / `.up.weight` (`k` counts the
adapted blocks in order), so two instances on different towers or branches
coexist; `zoo params CONFIG` lists them under this adapter.

## What to fill in

1. **The update.** Replace `__PASCAL__Update` in `__NAME__.ts` with your module
   (keep a zero or identity initialisation, so training starts from the frozen
   model). Parameter names are state-dict names: choose them to match the
   checkpoints you want to load.
2. **Where it attaches.** Change `points` / `requires` and the handler in
   `attach`. To replace a shortcut, handle `<tower>.block.<i>.shortcut.<attn|mlp>`
   (value: the tensor; return its replacement). To fuse the two towers, handle
   `block.<i>.after` (value: `{vision, text}` streams). To insert tokens, handle
   `embed` and increase the stream's `prefix`.
3. **Options.** Edit `Options` in `index.ts`: every option needs a default or
   `Type.Optional`, and a description (it is the documentation `zoo schema`
   prints). The type of `o` in the factory follows automatically.
4. **Per-forward state and auxiliary losses.** Keep state that travels
   between hook points in `ctx.scratch` (keyed by your adapter object) and
   report extra losses with `ctx.addLoss(name, scalar)`.
5. **The description** in `index.ts` (one line, shown by `zoo list`) and this README.
6. **The test.** Keep the identity and training checks; add one that compares
   against reference values if you port a published module.

## Test

    npx vitest run plugins/adapters/__NAME__
    npx tsc --noEmit -p .
