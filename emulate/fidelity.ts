// The simulator checked against the emulator: for a scenario's first link
// failure, the outage the simulator predicts for each demand (median over a
// few seeds, i.e. probe phases) beside the outage real agents produce in
// namespaces (median over a few runs), per probe interval. Tolerance (issue
// 8): 30% of the prediction or 50 ms, whichever is larger.
import { precondition } from '../common/errors.js';
import { runScenario } from '../sim/run-scenario.js';
import type { Scenario, ScenarioEvent } from '../sim/scenario.js';
import { Emulation } from './emulation.js';

export interface FidelityRow {
  probeIntervalMs: number;
  demand: string;
  /** The simulator's outage per seed, and their median. */
  predicted: number[];
  predictedMs: number;
  /** The emulated outage per run, and their median. */
  emulated: number[];
  emulatedMs: number;
  toleranceMs: number;
  within: boolean;
}

export interface FidelityOptions {
  probeIntervalsMs: readonly number[];
  /** Emulated runs per interval (and simulator seeds). */
  runs: number;
  /** Demand ping interval. */
  pingIntervalMs?: number;
  log?: (line: string) => void;
}

export const toleranceMs = (predictedMs: number): number => Math.max(0.3 * predictedMs, 50);

export function median(xs: readonly number[]): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The scenario cut down to its first link failure, at `probeIntervalMs`, long enough for detection and repair. */
export function failureCase(s: Scenario, probeIntervalMs: number): { scenario: Scenario; failure: ScenarioEvent; durationMs: number } {
  const failure = s.events.find((e) => e.kind === 'link_down');
  if (!failure) throw precondition(`scenario ${s.name} has no link_down event to measure`);
  const atMs = 1500;
  const durationMs = atMs + 10 * probeIntervalMs * s.timing.detectMultiplier / 3 + 2000;
  const scenario: Scenario = {
    ...s,
    events: [{ ...failure, atMs }],
    timing: { ...s.timing, probeIntervalMs, durationMs },
  };
  return { scenario, failure: scenario.events[0]!, durationMs };
}

/** The simulator's outage per demand, one figure per seed. */
export async function predictOutages(s: Scenario, seeds: readonly number[]): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>(s.demands.map((d) => [d.id, []]));
  for (const seed of seeds) {
    const r = await runScenario({ ...s, timing: { ...s.timing, seed } });
    for (const d of r.demands) out.get(d.id)?.push(d.outageMs);
  }
  return out;
}

/** The emulated outage per demand, one figure per run, on one emulated deployment (the link is repaired between runs). */
export async function emulateOutages(s: Scenario, failure: ScenarioEvent, runs: number, opts: { pingIntervalMs?: number; log?: (l: string) => void } = {}): Promise<Map<string, number[]>> {
  if (failure.kind !== 'link_down') throw precondition('only a link failure can be repeated');
  const log = opts.log ?? (() => {});
  const out = new Map<string, number[]>();
  const e = await Emulation.start(s, { log });
  try {
    for (let i = 0; i < runs; i++) {
      await e.dep.waitLinksUp(Math.max(60_000, 4 * s.timing.holdMs));
      await e.dep.waitInSync(60_000);
      const r = await e.play(opts.pingIntervalMs ?? 10, { durationMs: s.timing.durationMs, events: [failure] });
      for (const d of r.demands) {
        if (d.skipped) continue;
        const list = out.get(d.id) ?? [];
        list.push(d.outageMs);
        out.set(d.id, list);
      }
      log(`run ${i + 1}/${runs} at ${s.timing.probeIntervalMs} ms: ${r.demands.filter((d) => !d.skipped).map((d) => `${d.id} ${d.outageMs} ms`).join(', ')}`);
      await e.linkState(failure.link, 'up');
    }
  } finally {
    await e.close();
  }
  return out;
}

/** The whole comparison: per probe interval, per demand, predicted against emulated. */
export async function compareFidelity(s: Scenario, opts: FidelityOptions): Promise<FidelityRow[]> {
  const rows: FidelityRow[] = [];
  const seeds = Array.from({ length: opts.runs }, (_, i) => i + 1);
  for (const iv of opts.probeIntervalsMs) {
    const c = failureCase(s, iv);
    const predicted = await predictOutages(c.scenario, seeds);
    const emulated = await emulateOutages(c.scenario, c.failure, opts.runs, { pingIntervalMs: opts.pingIntervalMs, log: opts.log });
    for (const [demand, em] of emulated) {
      const pr = predicted.get(demand) ?? [];
      const p = median(pr);
      const m = median(em);
      rows.push({ probeIntervalMs: iv, demand, predicted: pr, predictedMs: p, emulated: em, emulatedMs: m, toleranceMs: toleranceMs(p), within: Math.abs(m - p) <= toleranceMs(p) });
    }
  }
  return rows;
}

export function fidelityTable(rows: readonly FidelityRow[]): string {
  const r = (x: number) => String(Math.round(x));
  const lines = [
    '| probe interval | demand | simulator (median; per seed) | emulator (median; per run) | difference | tolerance | within |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((x) =>
      `| ${x.probeIntervalMs} ms | ${x.demand} | ${r(x.predictedMs)} ms (${x.predicted.map(r).join(', ')}) | ${r(x.emulatedMs)} ms (${x.emulated.map(r).join(', ')}) | ${r(x.emulatedMs - x.predictedMs)} ms | ${r(x.toleranceMs)} ms | ${x.within ? 'yes' : 'NO'} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
