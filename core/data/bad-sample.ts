/**
 * Bad samples: why a sample cannot be used, the error dataset code throws for one,
 * and the per-reason counts a loader keeps when it skips them (`skipBad`).
 */
import { DataError } from '../errors.js';

/** Why a sample was rejected. */
export type SkipReason =
  | 'unreadable-image'
  | 'empty-image'
  | 'unreadable-mask'
  | 'bad-annotation'
  | 'mask-size'
  | 'empty-sentence'
  | 'duplicate-id'
  | 'other';

export const SKIP_REASONS: readonly SkipReason[] = [
  'unreadable-image',
  'empty-image',
  'unreadable-mask',
  'bad-annotation',
  'mask-size',
  'empty-sentence',
  'duplicate-id',
  'other',
];

/** [singular, plural] words for reports: "2 unreadable images, 1 empty sentence". */
const LABELS: Record<SkipReason, [string, string]> = {
  'unreadable-image': ['unreadable image', 'unreadable images'],
  'empty-image': ['zero-size image', 'zero-size images'],
  'unreadable-mask': ['unreadable mask', 'unreadable masks'],
  'bad-annotation': ['bad annotation', 'bad annotations'],
  'mask-size': ['mask of the wrong size', 'masks of the wrong size'],
  'empty-sentence': ['empty sentence', 'empty sentences'],
  'duplicate-id': ['duplicate id', 'duplicate ids'],
  other: ['other data error', 'other data errors'],
};

export function isSkipReason(s: string): s is SkipReason {
  return (SKIP_REASONS as readonly string[]).includes(s);
}

/**
 * A DataError about one sample's data, with the reason (for skip counts) and the file at
 * fault. Dataset sources throw it from `loadImage` / `loadMask`; the pipeline adds the
 * record id and split to the message.
 */
export class BadSampleError extends DataError {
  constructor(
    readonly reason: SkipReason,
    readonly file: string | undefined,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(file ? `${file}: ${detail}` : detail, options);
  }
}

export type SkipCounts = Record<SkipReason, number>;

export function emptySkipCounts(): SkipCounts {
  return Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as SkipCounts;
}

export function totalSkipped(c: Readonly<SkipCounts>): number {
  return SKIP_REASONS.reduce((a, r) => a + c[r], 0);
}

/** "skipped 3 samples (2 unreadable images, 1 empty sentence)", or "skipped no samples". */
export function describeSkipCounts(c: Readonly<SkipCounts>): string {
  const total = totalSkipped(c);
  if (total === 0) return 'skipped no samples';
  const parts = SKIP_REASONS.filter((r) => c[r] > 0).map((r) => `${c[r]} ${LABELS[r][c[r] === 1 ? 0 : 1]}`);
  return `skipped ${total} sample${total === 1 ? '' : 's'} (${parts.join(', ')})`;
}
