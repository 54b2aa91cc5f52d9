/** A parity check for one family of fixtures, contributed by a plugin (registry kind `parity`). */
import type { Fixture } from './fixture.js';
import type { ParityReport } from './report.js';
import type { Registry } from '../registry/registry.js';

export interface ParityOptions {
  /** Registry to build models from (fixtures are turned into run configs). */
  registry: Registry;
  /** Tokenizer vocabulary for fixtures that need one. */
  vocab?: string;
  log?: (line: string) => void;
}

export interface ParityHandler {
  /** Whether this handler understands the fixture (by its metadata). */
  matches(fixture: Fixture): boolean;
  run(fixture: Fixture, report: ParityReport, opts: ParityOptions): void | Promise<void>;
}
