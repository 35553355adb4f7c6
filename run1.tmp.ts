import { loadScenario } from './sim/scenario.js';
import { runScenario } from './sim/run-scenario.js';
const s = loadScenario(process.argv[2]!);
const t0 = Date.now();
const r = runScenario(s);
console.error('wall', Date.now() - t0, 'ms');
console.log(JSON.stringify(r, null, 1));
