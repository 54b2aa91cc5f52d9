/**
 * Typed errors, separated by whose fault they are. Every ZooError is a user-facing
 * message: the CLI prints it without a stack trace and exits with `exitCode`.
 */
export abstract class ZooError extends Error {
  abstract readonly exitCode: 1 | 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad command line: unknown command or flag, missing value. Exit 2. */
export class UsageError extends ZooError {
  readonly exitCode = 2 as const;
}

/** A config document that does not validate, or names unknown plugins. Exit 2. */
export class ConfigError extends ZooError {
  readonly exitCode = 2 as const;
}

/** A file that cannot be read as what it claims to be (checkpoint, image, pickle...). Exit 1. */
export class FileFormatError extends ZooError {
  readonly exitCode = 1 as const;
  constructor(readonly file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
  }
}

/** Weights that do not fit the model: missing, unexpected or mis-shaped keys. Exit 1. */
export class CheckpointMismatchError extends ZooError {
  readonly exitCode = 1 as const;
}

/** A bad dataset record (missing image, empty sentence, broken annotation). Exit 1. */
export class DataError extends ZooError {
  readonly exitCode = 1 as const;
}

/** A plugin that is itself broken (bad schema, wrong manifest): the plugin author's fault. Exit 1. */
export class PluginError extends ZooError {
  readonly exitCode = 1 as const;
}

/** Training diverged or another runtime condition the user must know about. Exit 1. */
export class RuntimeFailure extends ZooError {
  readonly exitCode = 1 as const;
}

/** Levenshtein distance, for "did you mean" hints. */
export function editDistance(a: string, b: string): number {
  const m = a.length;
  const n = b.length;
  let prev = Array.from({ length: n + 1 }, (_, j) => j);
  for (let i = 1; i <= m; i++) {
    const cur = [i];
    for (let j = 1; j <= n; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[n]!;
}

/** The closest candidate to `name`, if it is plausibly a typo. */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

export function didYouMean(name: string, candidates: Iterable<string>): string {
  const n = nearest(name, candidates);
  return n ? ` Did you mean "${n}"?` : '';
}
