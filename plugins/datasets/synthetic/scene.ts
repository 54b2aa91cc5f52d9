/**
 * Scenes: image size, background and non-overlapping objects; their rendering; the
 * referred objects with their expressions; and whole-scene captions.
 */
import type { Rng } from '../../../core/nn/rng.js';
import { RuntimeFailure } from '../../../core/errors.js';
import type { SyntheticOptions } from './options.js';
import { ROTATION_RANGE, polygonBBox, polygonPixelArea, shapePolygon } from './geometry.js';
import { Canvas, fillPolygon, paintBackground, sampleBackground, type BackgroundSpec } from './raster.js';
import {
  candidateExpressions,
  chooseExpressions,
  decorateRaw,
  evaluate,
  exprKey,
  indefinite,
  normalizeSentence,
  parseExpression,
  realize,
  type ExprKind,
  type RefExpr,
  type SceneItem,
  type SceneLayout,
} from './expressions.js';
import {
  BACKGROUND_WORDS,
  COLOR_RGB,
  COLOR_WORDS,
  SHAPE_NOUNS,
  SIZE_WORDS,
  shapeGroup,
  type ColorName,
  type ShapeGroup,
  type ShapeName,
  type SizeName,
} from './vocabulary.js';

export interface SceneObject extends SceneItem {
  /** COCO polygon (flat), as drawn. */
  polygon: number[];
  /** COCO bbox [x, y, w, h] of the polygon; (cx, cy) is its centre. */
  bbox: [number, number, number, number];
  /** Pixels whose centres lie inside the polygon. */
  area: number;
}

export interface Scene extends SceneLayout {
  background: BackgroundSpec;
  objects: SceneObject[];
}

/** Pixels kept free between objects' bounding boxes (objects never overlap) and from the image border. */
export const OBJECT_GAP = 3;
const BORDER = 1;

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[rng.int(xs.length)]!;
const r2 = (v: number): number => Math.round(v * 100) / 100;

function place(rng: Rng, w: number, h: number, shape: ShapeName, color: ColorName, size: SizeName, placed: readonly SceneObject[], radius: SyntheticOptions['objectRadius']): SceneObject | undefined {
  const side = Math.min(w, h);
  for (let attempt = 0; attempt < 60; attempt++) {
    const [lo, hi] = radius[size];
    const r = side * rng.uniform(lo, hi);
    const m = 1.1 * r + BORDER;
    if (2 * m >= w || 2 * m >= h) continue;
    const geom = {
      shape,
      cx: rng.uniform(m, w - m),
      cy: rng.uniform(m, h - m),
      r,
      rot: rng.uniform(-ROTATION_RANGE[shape], ROTATION_RANGE[shape]),
      aspect: rng.uniform(0.5, 0.62),
    };
    const polygon = shapePolygon(geom);
    const bbox = polygonBBox(polygon);
    const [x, y, bw, bh] = bbox;
    if (x < BORDER || y < BORDER || x + bw > w - BORDER || y + bh > h - BORDER) continue;
    const clash = placed.some((o) => {
      const [ox, oy, ow, oh] = o.bbox;
      return x < ox + ow + OBJECT_GAP && ox < x + bw + OBJECT_GAP && y < oy + oh + OBJECT_GAP && oy < y + bh + OBJECT_GAP;
    });
    if (clash) continue;
    return { shape, color, size, polygon, bbox, cx: r2(x + bw / 2), cy: r2(y + bh / 2), area: polygonPixelArea(polygon, h, w) };
  }
  return undefined;
}

/**
 * A random scene. With `group`, its first two objects belong to that shape group (a
 * testA / testB scene has several objects of the kind it refers to, as RefCOCO's testA
 * images have several people). A third of the later objects copy the shape, and a third
 * the colour, of an earlier one, so that attributes alone often do not single one out.
 */
export function sampleScene(rng: Rng, o: SyntheticOptions, group?: ShapeGroup): Scene {
  for (let attempt = 0; attempt < 100; attempt++) {
    const width = o.minSide + rng.int(o.maxSide - o.minSide + 1);
    const height = o.minSide + rng.int(o.maxSide - o.minSide + 1);
    const background = sampleBackground(rng, pick(rng, o.backgrounds), width, height);
    const n = o.objectsPerImage[0] + rng.int(o.objectsPerImage[1] - o.objectsPerImage[0] + 1);
    const objects: SceneObject[] = [];
    const groupShapes = group ? o.shapes.filter((s) => shapeGroup(s) === group) : [];
    let ok = true;
    for (let k = 0; k < n; k++) {
      const shape = group && k < 2 ? pick(rng, groupShapes) : objects.length > 0 && rng.next() < 1 / 3 ? pick(rng, objects).shape : pick(rng, o.shapes);
      const color = objects.length > 0 && rng.next() < 1 / 3 ? pick(rng, objects).color : pick(rng, o.colors);
      const size: SizeName = rng.next() < 0.5 ? 'small' : 'large';
      const obj = place(rng, width, height, shape, color, size, objects, o.objectRadius) ?? (size === 'large' ? place(rng, width, height, shape, color, 'small', objects, o.objectRadius) : undefined);
      if (obj) objects.push(obj);
      else if (group && k < 2) {
        ok = false;
        break;
      }
    }
    if (ok && objects.length >= 2) return { width, height, background, objects };
  }
  throw new RuntimeFailure(`synthetic dataset: cannot place 2 objects in a scene after 100 tries (minSide ${o.minSide}, maxSide ${o.maxSide})`);
}

/** RGB8 pixels of the scene: background, then the objects in order (z-order), then grain. */
export function renderScene(scene: Scene, rng: Rng, grain: number): Buffer {
  const canvas = new Canvas(scene.width, scene.height);
  paintBackground(canvas, scene.background);
  for (const obj of scene.objects) fillPolygon(canvas, obj.polygon, COLOR_RGB[obj.color]);
  return canvas.toRgb8(rng, grain);
}

// ---- referring expressions -------------------------------------------------------------------

export interface PlannedSentence {
  raw: string;
  sent: string;
  expr: RefExpr;
}
export interface PlannedRef {
  /** Index of the referred object in scene.objects. */
  object: number;
  sentences: PlannedSentence[];
}

/**
 * Sentences for object `t`: `m` expressions of different kinds where possible, each
 * realised as distinct text, each checked by parsing the text back and evaluating it.
 */
function sentencesFor(scene: Scene, t: number, m: number, rng: Rng, kinds: readonly ExprKind[]): PlannedSentence[] {
  const exprs = chooseExpressions(candidateExpressions(scene, t).filter((c) => kinds.includes(c.expr.kind)), m, rng);
  const out: PlannedSentence[] = [];
  const seen = new Set<string>();
  for (const expr of exprs) {
    for (let tries = 0; tries < 4; tries++) {
      const sent = realize(expr, scene, rng);
      if (seen.has(sent)) continue;
      const meaning = parseExpression(sent);
      const denoted = evaluate(meaning, scene);
      if (denoted.length !== 1 || denoted[0] !== t) {
        throw new RuntimeFailure(`synthetic dataset generator bug: "${sent}" (${exprKey(expr)}, parsed ${exprKey(meaning)}) denotes objects [${denoted.join(', ')}], not only ${t}`);
      }
      const raw = decorateRaw(sent, rng);
      if (normalizeSentence(raw) !== sent || normalizeSentence(sent) !== sent) {
        throw new RuntimeFailure(`synthetic dataset generator bug: "${raw}" does not normalise to "${sent}"`);
      }
      seen.add(sent);
      out.push({ raw, sent, expr });
      break;
    }
  }
  return out;
}

/**
 * Referred objects of a scene: up to `refsPerImage` objects (of `group` when given) that
 * have at least sentencesPerRef[0] distinct good expressions.
 */
export function planRefs(scene: Scene, o: SyntheticOptions, rng: Rng, group?: ShapeGroup): PlannedRef[] {
  const want = o.refsPerImage[0] + rng.int(o.refsPerImage[1] - o.refsPerImage[0] + 1);
  const eligible = rng.shuffle(scene.objects.flatMap((obj, i) => (group === undefined || shapeGroup(obj.shape) === group ? [i] : [])));
  const refs: PlannedRef[] = [];
  for (const t of eligible) {
    if (refs.length >= want) break;
    const m = o.sentencesPerRef[0] + rng.int(o.sentencesPerRef[1] - o.sentencesPerRef[0] + 1);
    const sentences = sentencesFor(scene, t, m, rng, o.expressionKinds);
    if (sentences.length >= o.sentencesPerRef[0]) refs.push({ object: t, sentences });
  }
  return refs.sort((a, b) => a.object - b.object);
}

// ---- captions ---------------------------------------------------------------------------------

const COUNT_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];

function objectPhrase(obj: SceneObject, rng: Rng): string {
  const words = [
    ...(rng.next() < 0.6 ? [SIZE_WORDS[obj.size][0]!] : []),
    rng.next() < 0.85 ? COLOR_WORDS[obj.color][0]! : pick(rng, COLOR_WORDS[obj.color]),
    rng.next() < 0.75 ? SHAPE_NOUNS[obj.shape][0]! : pick(rng, SHAPE_NOUNS[obj.shape]),
  ];
  return `${indefinite(words[0]!)} ${words.join(' ')}`;
}

const joinList = (xs: readonly string[]): string => (xs.length === 1 ? xs[0]! : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`);

/**
 * Whole-scene captions (for CLIP-style pretraining), e.g. "a red circle and a small blue
 * square on a striped background", "from left to right: ...". Distinct within an image.
 */
export function sceneCaptions(scene: Scene, rng: Rng, n: number): string[] {
  const out: string[] = [];
  for (let tries = 0; out.length < n && tries < 4 * n + 4; tries++) {
    const template = rng.int(5);
    const ordered = template === 3 ? [...scene.objects].sort((a, b) => a.cx - b.cx) : rng.shuffle([...scene.objects]);
    const list = joinList(ordered.map((obj) => objectPhrase(obj, rng)));
    const bgWord = pick(rng, BACKGROUND_WORDS[scene.background.kind]);
    const bg = `${indefinite(bgWord)} ${bgWord} background`;
    const caption = [
      `${list} on ${bg}`,
      `${bg} with ${list}`,
      `${COUNT_WORDS[scene.objects.length] ?? scene.objects.length} shapes on ${bg}: ${list}`,
      `from left to right: ${list}`,
      list,
    ][template]!;
    if (!out.includes(caption)) out.push(caption);
  }
  return out;
}
