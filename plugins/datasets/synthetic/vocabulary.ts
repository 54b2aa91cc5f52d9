/**
 * The closed world of the synthetic dataset: shapes (the COCO categories), colours,
 * size classes, and the words used for them in expressions and captions.
 */

export const SHAPES = ['circle', 'ellipse', 'semicircle', 'square', 'triangle', 'star', 'hexagon', 'diamond', 'cross', 'pentagon'] as const;
export type ShapeName = (typeof SHAPES)[number];

/**
 * Shape groups play the part of RefCOCO's people / other objects: testA refers to
 * round shapes only, testB to angular shapes only (see README.md, "Splits").
 */
export const ROUND_SHAPES: readonly ShapeName[] = ['circle', 'ellipse', 'semicircle'];
export type ShapeGroup = 'round' | 'angular';
export const shapeGroup = (s: ShapeName): ShapeGroup => (ROUND_SHAPES.includes(s) ? 'round' : 'angular');

/** COCO category id of a shape: fixed, whatever subset of shapes a dataset uses. */
export const categoryId = (s: ShapeName): number => SHAPES.indexOf(s) + 1;

export const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange', 'pink', 'cyan', 'white', 'black'] as const;
export type ColorName = (typeof COLORS)[number];
export type RGB = readonly [number, number, number];

/**
 * Saturated or extreme colours, all far (RGB distance > 75) from every background colour,
 * which are desaturated mid-greys (see raster.ts), so a pixel's colour tells object from background.
 */
export const COLOR_RGB: Readonly<Record<ColorName, RGB>> = {
  red: [215, 35, 40],
  green: [40, 170, 70],
  blue: [40, 90, 225],
  yellow: [240, 215, 40],
  purple: [150, 60, 205],
  orange: [245, 140, 30],
  pink: [245, 130, 195],
  cyan: [40, 205, 215],
  white: [244, 244, 244],
  black: [20, 20, 20],
};

export const SIZES = ['small', 'large'] as const;
export type SizeName = (typeof SIZES)[number];

export const BACKGROUNDS = ['noise', 'stripes', 'gradient', 'checker', 'plain'] as const;
export type BackgroundKind = (typeof BACKGROUNDS)[number];

export const SPLITS = ['train', 'val', 'testA', 'testB'] as const;
/** Kinds of referring expression the generator writes (expressions.ts `RefExpr`). */
export const EXPRESSION_KINDS = ['attr', 'extreme', 'center', 'relation'] as const;
export type SplitName = (typeof SPLITS)[number];

// ---- words ----------------------------------------------------------------------------------

/** Nouns per shape; the first is the canonical one. Multi-word nouns are fine (the parser matches phrases). */
export const SHAPE_NOUNS: Readonly<Record<ShapeName, readonly string[]>> = {
  circle: ['circle', 'disc', 'disk'],
  ellipse: ['ellipse', 'oval'],
  semicircle: ['semicircle', 'half circle', 'half disc'],
  square: ['square', 'box'],
  triangle: ['triangle'],
  star: ['star'],
  hexagon: ['hexagon'],
  diamond: ['diamond', 'rhombus'],
  cross: ['cross', 'plus', 'plus sign'],
  pentagon: ['pentagon'],
};
/** Nouns for "any shape"; `one` only after an adjective ("the red one"). */
export const GENERIC_NOUNS = ['shape', 'object', 'thing'] as const;
export const PRONOUN_NOUN = 'one';

export const COLOR_WORDS: Readonly<Record<ColorName, readonly string[]>> = {
  red: ['red'],
  green: ['green'],
  blue: ['blue'],
  yellow: ['yellow'],
  purple: ['purple', 'violet'],
  orange: ['orange'],
  pink: ['pink'],
  cyan: ['cyan', 'turquoise'],
  white: ['white'],
  black: ['black'],
};

export const SIZE_WORDS: Readonly<Record<SizeName, readonly string[]>> = {
  small: ['small', 'little', 'tiny'],
  large: ['large', 'big'],
};

export const BACKGROUND_WORDS: Readonly<Record<BackgroundKind, readonly string[]>> = {
  noise: ['noisy', 'speckled', 'mottled'],
  stripes: ['striped'],
  gradient: ['gradient', 'shaded'],
  checker: ['checkered', 'checkerboard'],
  plain: ['plain'],
};
