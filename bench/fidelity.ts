// The simulator against the emulator (issue 8): for the link-failure
// scenario, the predicted outage (median over seeds) beside the emulated one
// (median over runs in namespaces with real agents), at each probe interval.
//
//   npm run bench:fidelity -- [--runs 5] [--intervals 100,300] [--scenario examples/scenario-dc-link.yaml]
//
// Root and Linux (network namespaces); prints a Markdown table for
// docs/simulator.md and exits 1 when a figure is outside the tolerance.
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { checkCanEmulate } from '../emulate/emulation.js';
import { compareFidelity, fidelityTable } from '../emulate/fidelity.js';
import { loadScenario } from '../sim/scenario.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    intervals: { type: 'string', default: '100,300' },
    scenario: { type: 'string', default: fileURLToPath(new URL('../examples/scenario-dc-link.yaml', import.meta.url)) },
  },
});
checkCanEmulate();
const runs = Number(values.runs);
const intervals = values.intervals.split(',').map(Number);
if (!Number.isInteger(runs) || runs < 1 || intervals.some((x) => !Number.isInteger(x) || x < 10)) {
  process.stderr.write('usage: bench/fidelity.ts [--runs N] [--intervals MS,MS] [--scenario FILE]\n');
  process.exit(2);
}
const started = Date.now();
const rows = await compareFidelity(loadScenario(values.scenario), {
  probeIntervalsMs: intervals,
  runs,
  log: (l) => process.stderr.write(l + '\n'),
});
process.stdout.write(fidelityTable(rows));
process.stdout.write(`\n${runs} runs per interval, ${Math.round((Date.now() - started) / 1000)} s\n`);
process.exitCode = rows.every((r) => r.within) ? 0 : 1;
