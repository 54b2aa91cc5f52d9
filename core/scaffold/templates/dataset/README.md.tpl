# dataset/__NAME__

Scaffolded by `zoo new dataset __NAME__`. A `DatasetSource`
(`core/data/contracts.ts`) that already works, over a small **generated** set:
each image is a noisy grey background with two shapes (square or disc) of
different colours in its left and right halves; each record refers to one of
them with two sentences ("the red square", "square on the left") and its mask
is that shape. Use it to try a pipeline end to end, then replace the
generator with your data.

| file | what it holds |
|---|---|
| `index.ts` | the manifest (`definePlugin`: kind, name, one-line description, options schema, factory) and `Options`, the TypeBox schema that is also the options type |
| `__NAME__.ts` | `__PASCAL__Source implements DatasetSource` and the factory `create__PASCAL__` |
| `__NAME__.test.ts` | checks splits, records, images and masks |

It is registered in `plugins/index.ts`; a run config uses it as
`"data": {"dataset": {"type": "__NAME__", "images": 64}}` and
`zoo schema dataset/__NAME__` lists its options. A dataset plugin attaches to
no hook points: it feeds the core data pipeline, which letterboxes, normalises,
tokenises (with the backbone's tokenizer) and batches identically for every
dataset.

## The contract

| member | what it must do |
|---|---|
| `name` | short name for logs and record ids |
| `splits()` | the split names it has (e.g. `train`, `val`, `testA`, `testB`) |
| `records(split)` | one `RefRecord` per referred object: `id` (unique, stable: `"<dataset>/<split>/<ref>"`), `refId`, `annId`, `imageId`, `imagePath` (absolute), `sentences` (all of them, annotation order: val uses the first), `category?`, `maskRef` (whatever `loadMask` needs). Unknown split: `DataError` naming it and the known ones |
| `loadImage(rec)` | decoded RGB, HWC `Uint8Array`; `DataError` naming the file and the record when unreadable |
| `loadMask(rec, height, width)` | the ground truth at the image's original size, row-major 0/1 |
| `describe()` | one line: root, counts |

The factory receives `DatasetContext`: `where` (the config location, for
messages) and `baseDir` (the config file's folder: resolve relative paths in
options against it).

## Options

| option | default | meaning |
|---|---|---|
| `images` | 16 | generated images (one record each) |
| `size` | 64 | image side in pixels |
| `valFraction` | 0.25 | share of images in `val` |
| `seed` | 0 | generator seed |

## What to fill in

1. **Options**: replace the generator's options with where your data is, e.g.
   `root: Type.String({description: ...})` and an annotation file name;
   resolve them with `resolve(ctx.baseDir, o.root)`, and fail early (in the
   factory) with a `ConfigError` naming `${ctx.where}.root` when the folder or
   the annotation file is missing.
2. **Records**: read the annotation file once in the constructor and build the
   `RefRecord`s per split. Keep everything `loadMask` needs in `maskRef`
   (a polygon, an RLE, a mask file path).
3. **Images and masks**: decode files in `loadImage` / `loadMask` (e.g. with
   `core/data/decode.ts`), throwing `DataError`s that name the record and the
   file. The pipeline may skip such samples (`data.skipBad`) and counts them.
4. **The description** in `index.ts` (one line, for `zoo list`), this README,
   and the test: point it at a few real records (or a tiny copy of your format
   written by the test into a temporary folder).

## Test

    npx vitest run plugins/datasets/__NAME__
    npx tsc --noEmit -p .
