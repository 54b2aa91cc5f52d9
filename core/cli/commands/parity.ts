/** zoo parity FILE: compare a model built from a golden fixture's metadata with its tensors. */
import { UsageError } from '../../errors.js';
import { Fixture } from '../../parity/fixture.js';
import { ParityReport } from '../../parity/report.js';
import type { ParityHandler } from '../../parity/handler.js';
import { BACKEND_FLAG, backendFromArgs } from '../config-flags.js';
import type { Command } from '../command.js';

export const parityCommand: Command = {
  spec: {
    name: 'parity',
    summary: 'Check the implementation against a golden fixture (shared/fixtures/parity format): builds the model from the fixture metadata alone and prints max errors per tensor group.',
    usage: 'zoo parity FILE.safetensors [FILE ...] [--backend NAME] [--vocab PATH] [--verbose]',
    flags: {
      backend: BACKEND_FLAG,
      vocab: { type: 'string', value: 'PATH', description: 'BPE vocabulary for tokenizer fixtures (default: bpe_simple_vocab_16e6.txt.gz next to the fixture folder)' },
      verbose: { type: 'boolean', description: 'Print every compared tensor' },
    },
    positionals: [{ name: 'FILE', description: 'fixture file(s); a model fixture finds its .mid/.train siblings', variadic: true }],
    details: 'Exit status 0 when every tensor group is within the tolerances of the fixtures README (section 7), 1 otherwise.',
  },
  async run(args, env) {
    if (!args.positionals.length) throw new UsageError('parity: give at least one fixture file');
    await backendFromArgs(args, 'auto', env);
    const handlers = env.registry.all('parity').map((m) => m.create({}, {}) as ParityHandler);
    let ok = true;
    const seen = new Set<string>();
    for (const file of args.positionals) {
      const fixture = new Fixture(file);
      // A model fixture's .mid/.train siblings carry the same metadata: check each fixture once.
      const key = `${fixture.name}@${fixture.files.map((f) => f.path).sort().join('|')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const handler = handlers.find((h) => h.matches(fixture));
      if (!handler) throw new UsageError(`${file}: no parity check understands this fixture (config keys: ${Object.keys(fixture.config).join(', ')})`);
      const report = new ParityReport();
      const t0 = performance.now();
      await handler.run(fixture, report, { registry: env.registry, vocab: args.flags.vocab as string | undefined, log: env.err });
      env.out(`${fixture.name} (${file}): ${report.ok ? 'PASS' : 'FAIL'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      env.out(report.summary());
      if (args.flags.verbose) for (const r of report.rows) env.out(`  ${r.ok ? "ok  " : "FAIL"} ${r.group.padEnd(13)} ${r.name.padEnd(60)} ${r.maxAbs.toExponential(2)} (bound ${r.bound.toExponential(2)})${r.note ? `  ${r.note}` : ""}`);
      ok &&= report.ok;
    }
    return ok ? 0 : 1;
  },
};
