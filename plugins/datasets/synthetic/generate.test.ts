import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { ConfigError } from '../../../core/errors.js';
import {
  COLOR_RGB,
  MANIFEST_FILE,
  ROUND_SHAPES,
  SPLITS,
  ensureSyntheticDataset,
  evaluate,
  generateSyntheticDataset,
  normalizeSentence,
  parseExpression,
  planSyntheticDataset,
  polygonMask,
  resolveSyntheticOptions,
  type ColorName,
  type SceneLayout,
  type ShapeName,
  type SizeName,
  type SyntheticManifest,
  type SyntheticOptionsInput,
} from './index.js';
import { polygonCentroid } from './geometry.js';

const PYTHON = '/usr/bin/python3';

function python(script: string, args: string[] = []): string {
  if (!existsSync(PYTHON)) {
    throw new Error(`${PYTHON} is required by this test (it loads the dataset with CPython's pickle and json) but does not exist`);
  }
  return execFileSync(PYTHON, ['-c', script, ...args], { maxBuffer: 1 << 28 }).toString('utf8');
}

/** sha256 of every file under dir, by relative path. */
function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

const TINY: SyntheticOptionsInput = { seed: 7, images: { train: 24, val: 6, testA: 6, testB: 6 }, extraCaptionImages: 3 };

/** Loads the dataset the way REFER does (pickle.load + json.load, createIndex, getRefIds(split)) and dumps it. */
const LOAD_LIKE_REFER = `
import sys, os, json, pickle
root, dataset, split_by = sys.argv[1:4]
data_dir = os.path.join(root, dataset)
refs = pickle.load(open(os.path.join(data_dir, 'refs(%s).p' % split_by), 'rb'))
inst = json.load(open(os.path.join(data_dir, 'instances.json')))
Anns = {a['id']: a for a in inst['annotations']}
Imgs = {i['id']: i for i in inst['images']}
Cats = {c['id']: c['name'] for c in inst['categories']}
Sents = {}
for ref in refs:
    ann = Anns[ref['ann_id']]                       # refToAnn
    assert ann['image_id'] == ref['image_id']
    assert ann['category_id'] == ref['category_id'] and ref['category_id'] in Cats
    img = Imgs[ref['image_id']]
    assert os.path.isfile(os.path.join(root, 'images', 'train2014', img['file_name'])), img['file_name']
    for sent in ref['sentences']:
        assert sent['sent_id'] not in Sents
        Sents[sent['sent_id']] = sent
    assert [s['sent_id'] for s in ref['sentences']] == ref['sent_ids']
def get_ref_ids(split):
    if split in ['testA', 'testB', 'testC']:
        return [r['ref_id'] for r in refs if split[-1] in r['split']]
    return [r['ref_id'] for r in refs if r['split'] == split]
json.dump({'refs': refs, 'instances': inst, 'byRefer': {s: len(get_ref_ids(s)) for s in ['train', 'val', 'testA', 'testB']}}, sys.stdout)
`;

interface Ref {
  ref_id: number;
  ann_id: number;
  image_id: number;
  split: string;
  category_id: number;
  file_name: string;
  sent_ids: number[];
  sentences: { tokens: string[]; raw: string; sent_id: number; sent: string }[];
}
interface Instances {
  images: { id: number; file_name: string; height: number; width: number }[];
  annotations: { id: number; image_id: number; category_id: number; segmentation: number[][]; area: number; bbox: number[]; iscrowd: number }[];
  categories: { id: number; name: string; supercategory: string }[];
}
interface SceneRecord {
  image_id: number;
  split: string;
  file_name: string;
  width: number;
  height: number;
  background: { kind: string; colors: [number[], number[]] };
  objects: { ann_id: number; shape: ShapeName; color: ColorName; size: SizeName; bbox: number[]; center: [number, number] }[];
}

describe('synthetic REFER dataset', () => {
  let tmp: string;
  let rootA: string;
  let manifest: SyntheticManifest;
  let loaded: { refs: Ref[]; instances: Instances; byRefer: Record<string, number> };
  let scenes: SceneRecord[];

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'synthref-'));
    rootA = join(tmp, 'a');
    const r = await generateSyntheticDataset(rootA, TINY);
    expect(r.generated).toBe(true);
    manifest = r.manifest;
    loaded = JSON.parse(python(LOAD_LIKE_REFER, [rootA, 'synthref', 'unc']));
    scenes = (JSON.parse(readFileSync(join(rootA, 'synthref', 'scenes.json'), 'utf8')) as { images: SceneRecord[] }).images;
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('has the REFER + COCO layout', () => {
    expect(existsSync(join(rootA, 'synthref', 'instances.json'))).toBe(true);
    expect(existsSync(join(rootA, 'synthref', 'refs(unc).p'))).toBe(true);
    expect(existsSync(join(rootA, 'captions.jsonl'))).toBe(true);
    expect(existsSync(join(rootA, MANIFEST_FILE))).toBe(true);
    const files = readdirSync(join(rootA, 'images', 'train2014'));
    expect(files.length).toBe(42);
    for (const f of files) expect(f).toMatch(/^COCO_train2014_\d{12}\.jpg$/);
    expect(readdirSync(join(rootA, 'images', 'pretrain')).length).toBe(3);
    expect(readdirSync(tmp).sort()).toEqual(['a']); // no temp folder left behind
    for (const ref of loaded.refs) expect(ref.file_name).toBe(`COCO_train2014_${String(ref.image_id).padStart(12, '0')}_${ref.ann_id}.jpg`);
    const a0 = loaded.instances.annotations[0]!;
    expect(Object.keys(a0)).toEqual(['segmentation', 'area', 'iscrowd', 'image_id', 'bbox', 'category_id', 'id']);
    expect(Object.keys(loaded.refs[0]!).sort()).toEqual(['ann_id', 'category_id', 'file_name', 'image_id', 'ref_id', 'sent_ids', 'sentences', 'split'].sort());
    expect(Object.keys(loaded.refs[0]!.sentences[0]!).sort()).toEqual(['raw', 'sent', 'sent_id', 'tokens']);
  });

  it('is byte-identical for the same seed and options, and differs for another seed', async () => {
    const rootB = join(tmp, 'b');
    await generateSyntheticDataset(rootB, { ...TINY, concurrency: 1 }); // concurrency does not change the data
    const ha = hashTree(rootA);
    expect(Object.keys(ha).length).toBe(42 + 3 + 5);
    expect(hashTree(rootB)).toEqual(ha);
    const rootC = join(tmp, 'c');
    await generateSyntheticDataset(rootC, { ...TINY, seed: 8 });
    const hc = hashTree(rootC);
    expect(hc['synthref/instances.json']).not.toBe(ha['synthref/instances.json']);
    expect(hc['synthref/refs(unc).p']).not.toBe(ha['synthref/refs(unc).p']);
    rmSync(rootB, { recursive: true });
    rmSync(rootC, { recursive: true });
  });

  it('has the requested images per split, no image in two splits, and counts that match the manifest', () => {
    const imageSplit = new Map<number, string>();
    for (const s of scenes) {
      expect(imageSplit.has(s.image_id)).toBe(false);
      imageSplit.set(s.image_id, s.split);
    }
    const o = resolveSyntheticOptions(TINY);
    for (const split of SPLITS) {
      expect(scenes.filter((s) => s.split === split).length, split).toBe(o.images[split]);
      expect(manifest.counts.images[split]).toBe(o.images[split]);
      const refs = loaded.refs.filter((r) => r.split === split);
      expect(manifest.counts.refs[split], split).toBe(refs.length);
      expect(loaded.byRefer[split], split).toBe(refs.length);
      expect(manifest.counts.sentences[split], split).toBe(refs.reduce((a, r) => a + r.sentences.length, 0));
    }
    expect(loaded.instances.images.length).toBe(42);
    expect(new Set(loaded.instances.images.map((i) => i.id)).size).toBe(42);
    expect(manifest.counts.annotations).toBe(loaded.instances.annotations.length);
    expect(new Set(loaded.instances.annotations.map((a) => a.id)).size).toBe(loaded.instances.annotations.length);
    for (const ref of loaded.refs) expect(ref.split, `ref ${ref.ref_id}`).toBe(imageSplit.get(ref.image_id));
    // every image has at least one ref; ref and sentence ids run from 0
    expect(new Set(loaded.refs.map((r) => r.image_id)).size).toBe(42);
    expect(loaded.refs.map((r) => r.ref_id)).toEqual(loaded.refs.map((_, i) => i));
    expect(loaded.refs.flatMap((r) => r.sent_ids)).toEqual(loaded.refs.flatMap((r) => r.sent_ids).map((_, i) => i));
  });

  it('refers to round shapes only in testA and to angular shapes only in testB', () => {
    const sup = new Map(loaded.instances.categories.map((c) => [c.id, c.supercategory]));
    for (const ref of loaded.refs) {
      if (ref.split === 'testA') expect(sup.get(ref.category_id)).toBe('round');
      if (ref.split === 'testB') expect(sup.get(ref.category_id)).toBe('angular');
    }
    for (const s of scenes.filter((x) => x.split === 'testA')) expect(s.objects.filter((o) => ROUND_SHAPES.includes(o.shape)).length).toBeGreaterThanOrEqual(2);
    for (const s of scenes.filter((x) => x.split === 'testB')) expect(s.objects.filter((o) => !ROUND_SHAPES.includes(o.shape)).length).toBeGreaterThanOrEqual(2);
  });

  it('every sentence, parsed from its text, denotes exactly its referred object in the scene', () => {
    const byImage = new Map(scenes.map((s) => [s.image_id, s]));
    let n = 0;
    for (const ref of loaded.refs) {
      const s = byImage.get(ref.image_id)!;
      const layout: SceneLayout = { width: s.width, height: s.height, objects: s.objects.map((o) => ({ ...o, cx: o.center[0], cy: o.center[1] })) };
      const target = s.objects.findIndex((o) => o.ann_id === ref.ann_id);
      expect(target).toBeGreaterThanOrEqual(0);
      expect(ref.sentences.length).toBeGreaterThanOrEqual(2);
      expect(ref.sentences.length).toBeLessThanOrEqual(3);
      expect(new Set(ref.sentences.map((x) => x.sent)).size).toBe(ref.sentences.length);
      for (const x of ref.sentences) {
        expect(x.tokens).toEqual(x.sent.split(' '));
        expect(normalizeSentence(x.raw)).toBe(x.sent);
        expect(evaluate(parseExpression(x.sent), layout), `"${x.sent}" in image ${s.image_id}`).toEqual([target]);
        n++;
      }
    }
    expect(n).toBeGreaterThan(80);
  });

  it('draws each annotation polygon where the annotation says, in its colour', async () => {
    const byImage = new Map(scenes.map((s) => [s.image_id, s]));
    const annsByImage = new Map<number, Instances['annotations']>();
    for (const a of loaded.instances.annotations) annsByImage.set(a.image_id, [...(annsByImage.get(a.image_id) ?? []), a]);
    const ious: number[] = [];
    for (const im of loaded.instances.images) {
      const { data, info } = await sharp(join(rootA, 'images', 'train2014', im.file_name)).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([im.width, im.height, 3]);
      const scene = byImage.get(im.id)!;
      const [c1, c2] = scene.background.colors;
      /** squared distance from p to the segment c1-c2 (the background's colours lie on it) */
      const bgDist = (p: number[]): number => {
        const d = [c2[0]! - c1[0]!, c2[1]! - c1[1]!, c2[2]! - c1[2]!];
        const dd = d[0]! ** 2 + d[1]! ** 2 + d[2]! ** 2;
        const t = dd === 0 ? 0 : Math.min(1, Math.max(0, ((p[0]! - c1[0]!) * d[0]! + (p[1]! - c1[1]!) * d[1]! + (p[2]! - c1[2]!) * d[2]!) / dd));
        return (p[0]! - c1[0]! - t * d[0]!) ** 2 + (p[1]! - c1[1]! - t * d[1]!) ** 2 + (p[2]! - c1[2]! - t * d[2]!) ** 2;
      };
      for (const ann of annsByImage.get(im.id)!) {
        const obj = scene.objects.find((o) => o.ann_id === ann.id)!;
        const rgb = COLOR_RGB[obj.color];
        const poly = ann.segmentation[0]!;
        const mask = polygonMask(poly, im.height, im.width);
        expect(mask.reduce((a, b) => a + b, 0)).toBe(ann.area);
        // colour at the area centroid
        const [px, py] = polygonCentroid(poly).map(Math.floor) as [number, number];
        const o = (py * im.width + px) * 3;
        const centre = [data[o]!, data[o + 1]!, data[o + 2]!];
        expect(Math.hypot(centre[0]! - rgb[0], centre[1]! - rgb[1], centre[2]! - rgb[2]), `${obj.color} ${obj.shape} in ${im.file_name}`).toBeLessThan(35);
        // pixels nearer the object's colour than the background's, around the bbox, vs the polygon mask
        const [bx, by, bw, bh] = ann.bbox as [number, number, number, number];
        let inter = 0;
        let union = 0;
        for (let y = Math.max(0, Math.floor(by) - 2); y < Math.min(im.height, Math.ceil(by + bh) + 2); y++) {
          for (let x = Math.max(0, Math.floor(bx) - 2); x < Math.min(im.width, Math.ceil(bx + bw) + 2); x++) {
            const q = (y * im.width + x) * 3;
            const p = [data[q]!, data[q + 1]!, data[q + 2]!];
            const isObj = (p[0]! - rgb[0]) ** 2 + (p[1]! - rgb[1]) ** 2 + (p[2]! - rgb[2]) ** 2 < bgDist(p);
            const inPoly = mask[y * im.width + x] === 1;
            if (isObj && inPoly) inter++;
            if (isObj || inPoly) union++;
          }
        }
        ious.push(inter / union);
      }
    }
    ious.sort((a, b) => a - b);
    expect(ious[0]!, 'worst colour-vs-polygon IoU').toBeGreaterThan(0.8);
    expect(ious[Math.floor(ious.length / 2)]!, 'median colour-vs-polygon IoU').toBeGreaterThan(0.95);
  });

  it('writes captions for train images and the extra pretraining images', () => {
    const lines = readFileSync(join(rootA, 'captions.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as { image: string; caption: string; split: string });
    expect(lines.length).toBe(manifest.counts.captions);
    expect(lines.length).toBe(24 * 2 + 3 * 2);
    expect(new Set(lines.map((l) => l.split))).toEqual(new Set(['train', 'pretrain']));
    const trainIds = new Set(scenes.filter((s) => s.split === 'train').map((s) => s.file_name));
    for (const l of lines) {
      expect(existsSync(join(rootA, l.image)), l.image).toBe(true);
      expect(l.caption.length).toBeGreaterThan(5);
      if (l.split === 'train') expect(trainIds.has(l.image.split('/').pop()!)).toBe(true);
    }
  });

  it('ensureSyntheticDataset keeps a matching dataset and regenerates a different one atomically', async () => {
    const root = join(tmp, 'e');
    const first = await ensureSyntheticDataset(root, TINY);
    expect(first.generated).toBe(true);
    const before = hashTree(root);
    const mtime = statSync(join(root, MANIFEST_FILE)).mtimeMs;
    const again = await ensureSyntheticDataset(root, { ...TINY, concurrency: 3 });
    expect(again.generated).toBe(false);
    expect(again.manifest).toEqual(first.manifest);
    expect(statSync(join(root, MANIFEST_FILE)).mtimeMs).toBe(mtime);
    // a dead process's temp folder is cleaned up by the next generation
    const stale = join(tmp, '.e.tmp-4194305-deadbeef');
    mkdirSync(stale);
    writeFileSync(join(stale, 'half-written.jpg'), 'x');
    const other = await ensureSyntheticDataset(root, { ...TINY, seed: 9 });
    expect(other.generated).toBe(true);
    expect(other.manifest.seed).toBe(9);
    expect(hashTree(root)).not.toEqual(before);
    expect(readdirSync(tmp).filter((n) => n.startsWith('.'))).toEqual([]);
    // a missing file invalidates the cache
    rmSync(join(root, 'synthref', 'scenes.json'));
    expect((await ensureSyntheticDataset(root, { ...TINY, seed: 9 })).generated).toBe(true);
    rmSync(root, { recursive: true });
  });

  it('refuses to replace a folder that is not a synthetic dataset, and rejects bad options', async () => {
    const root = join(tmp, 'mine');
    mkdirSync(root);
    writeFileSync(join(root, 'precious.txt'), 'keep me');
    await expect(ensureSyntheticDataset(root, TINY)).rejects.toThrow(ConfigError);
    await expect(ensureSyntheticDataset(root, TINY)).rejects.toThrow(/not a synthetic dataset/);
    expect(readFileSync(join(root, 'precious.txt'), 'utf8')).toBe('keep me');
    expect(() => resolveSyntheticOptions({ imagez: 3 } as SyntheticOptionsInput)).toThrow(/unknown synthetic dataset option "imagez". Did you mean "images"/);
    expect(() => resolveSyntheticOptions({ shapes: ['circle', 'sqare'] as ShapeName[] })).toThrow(/Did you mean "square"/);
    expect(() => resolveSyntheticOptions({ objectsPerImage: [5, 3] })).toThrow(/objectsPerImage/);
    expect(() => resolveSyntheticOptions({ shapes: ['square', 'star'] })).toThrow(/round shape/);
    expect(() => resolveSyntheticOptions({ minSide: 200, maxSide: 100 })).toThrow(/minSide/);
  });
});

describe('expressionKinds', () => {
  const small = { seed: 3, images: { train: 40, val: 10, testA: 6, testB: 6 } } as const;
  const kindsOf = (o: SyntheticOptionsInput): Set<string> =>
    new Set(planSyntheticDataset(o).images.flatMap((im) => im.refs.flatMap((r) => r.sentences.map((s) => parseExpression(s.sent).kind))));

  it('writes only the requested kinds of expression (read back from the text)', () => {
    expect(kindsOf({ ...small, expressionKinds: ['attr'] })).toEqual(new Set(['attr']));
    expect(kindsOf({ ...small, expressionKinds: ['extreme', 'relation'] })).toEqual(new Set(['extreme', 'relation']));
    expect(kindsOf(small)).toEqual(new Set(['attr', 'extreme', 'center', 'relation']));
  });

  it('all kinds listed is the default, with the same dataset', () => {
    expect(JSON.stringify(planSyntheticDataset({ ...small, expressionKinds: ['relation', 'center', 'extreme', 'attr'] }))).toBe(JSON.stringify(planSyntheticDataset(small)));
  });

  it('rejects unknown and repeated kinds, naming the option', () => {
    expect(() => resolveSyntheticOptions({ expressionKinds: ['attribute' as never] })).toThrow(/"expressionKinds": unknown value "attribute".*attr/);
    expect(() => resolveSyntheticOptions({ expressionKinds: ['attr', 'attr'] })).toThrow(/"expressionKinds".*no repeated values/);
    expect(() => resolveSyntheticOptions({ expressionKinds: [] })).toThrow(/"expressionKinds".*at least 1/);
  });
});

describe('objectRadius', () => {
  it('draws each size with its radius range (circles: area = pi r^2 of the shorter side)', () => {
    const o: SyntheticOptionsInput = { seed: 5, images: { train: 30, val: 0, testA: 0, testB: 0 }, minSide: 128, maxSide: 160, shapes: ['circle', 'square'], objectRadius: { small: [0.1, 0.1], large: [0.22, 0.22] } };
    const ratios: Record<string, number[]> = { small: [], large: [] };
    for (const im of planSyntheticDataset(o).images) {
      const side = Math.min(im.scene.width, im.scene.height);
      for (const ob of im.scene.objects) if (ob.shape === 'circle') ratios[ob.size]!.push(Math.sqrt(ob.area / Math.PI) / side);
    }
    for (const [size, want] of [['small', 0.1], ['large', 0.22]] as const) {
      expect(ratios[size]!.length, size).toBeGreaterThan(3);
      for (const r of ratios[size]!) expect(Math.abs(r - want), `${size} radius ${r}`).toBeLessThan(0.012);
    }
  });

  it('rejects ranges that would make the size words wrong, and unknown sizes', () => {
    expect(() => resolveSyntheticOptions({ objectRadius: { small: [0.1, 0.2], large: [0.15, 0.25] } })).toThrow(/"objectRadius".*small's max below large's min/);
    expect(() => resolveSyntheticOptions({ objectRadius: { small: [0.12, 0.1] } })).toThrow(/"objectRadius.small".*min <= max/);
    expect(() => resolveSyntheticOptions({ objectRadius: { large: [0.2, 0.6] } })).toThrow(/"objectRadius.large".*\(0, 0.45\]/);
    expect(() => resolveSyntheticOptions({ objectRadius: { medium: [0.1, 0.1] } as never })).toThrow(/"objectRadius": unknown size "medium"/);
  });
});
