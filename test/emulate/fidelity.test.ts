// The simulator's prediction against one emulated run: Berlin loses its
// Frankfurt tunnel (examples/scenario-dc-link.yaml) with agents probing every
// 100 ms; the outage real agents produce is within the tolerance of issue 8
// (30% of the prediction or 50 ms) of the simulator's median over five
// seeds. The five-run medians at 100 and 300 ms are `npm run bench:fidelity`.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { emulateOutages, failureCase, median, predictOutages, toleranceMs } from '../../emulate/fidelity.js';
import { harnessNamespaces, netnsPrerequisites, requireCommand } from '../helpers/netns.js';
import { loadScenario } from '../../sim/scenario.js';

const missing = netnsPrerequisites();
if (missing) throw new Error(`emulate tests need root and iproute2: ${missing}`);
requireCommand('ping', 'iputils-ping');

const t = suite('emulate: the simulator against the emulator');
const deadline = setTimeout(() => {
  console.error('fidelity: over 180 s, giving up');
  process.exit(1);
}, 180_000);
t.after(() => clearTimeout(deadline));

t('one link failure at 100 ms probes: the emulated outage is within the tolerance of the prediction', async () => {
  const s = loadScenario(fileURLToPath(new URL('../../examples/scenario-dc-link.yaml', import.meta.url)));
  const c = failureCase(s, 100);
  const predicted = await predictOutages(c.scenario, [1, 2, 3, 4, 5]);
  const emulated = await emulateOutages(c.scenario, c.failure, 1);
  // This process's namespaces (others may be running tests of their own).
  assert.equal(harnessNamespaces().filter((n) => n.startsWith(`sbt-${process.pid}-`)), [], 'every namespace removed');
  const d = 'ber-fra';
  const p = median(predicted.get(d)!);
  const m = emulated.get(d)![0]!;
  console.log(`  ${d}: predicted ${p} ms (median of ${predicted.get(d)!.join(', ')}), emulated ${m} ms, tolerance ${toleranceMs(p)} ms`);
  // Detection alone is 200-300 ms at 100 ms x 3: the prediction must say so too.
  assert.ok(p >= 200 && p <= 320, `prediction ${p} ms`);
  assert.ok(m > 0, 'the cut interrupted ber-fra');
  assert.ok(Math.abs(m - p) <= toleranceMs(p), `emulated ${m} ms against predicted ${p} ms (tolerance ${toleranceMs(p)} ms)`);
});

t.run();
