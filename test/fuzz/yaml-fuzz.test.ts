// Fuzzing the YAML edges: topology files for `switchback ctl apply` and the
// simulator's scenario files, starting from the examples and mutated both as
// structure (keys deleted or renamed, types swapped, ids duplicated, huge
// numbers, unicode) and as text (bytes flipped, cut, inserted), plus the
// classic hostile documents (alias bombs, deep nesting). Every input is
// either a valid model or one SwitchbackError naming the file (and line and
// field where there is one); a refused apply changes nothing. The bulk runs
// in-process through the same functions the admin API calls; a sample runs
// through the real CLI against a real controller.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYamlJs, stringify } from 'yaml';
import { SystemClock } from '../../common/clock.js';
import { SwitchbackError } from '../../common/errors.js';
import { Controller } from '../../controller/controller.js';
import { AdminClient } from '../../controller/ctl/admin-client.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { parseTopologyYaml, topologyToYaml } from '../../controller/topology/topology-yaml.js';
import { MAX_YAML_NESTING } from '../../controller/topology/yaml-reader.js';
import { parseScenario } from '../../sim/scenario.js';
import { startControllerProcess, type ControllerProcess } from '../helpers/controller-process.js';
import { sb } from '../helpers/run-cli.js';
import { fuzzRuns, mutate, tally } from './fuzz-report.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOPOLOGY_FILE = join(root, 'examples/topology.yaml');
const EXAMPLE = readFileSync(TOPOLOGY_FILE, 'utf8');
const SCENARIOS = ['scenario-dc-link.yaml', 'scenario-dc-loss.yaml'].map((f) => ({ name: f, text: readFileSync(join(root, 'examples', f), 'utf8') }));
const RUNS = fuzzRuns(400);
const CLI_RUNS = 8;
const SOURCE = 'fuzz-topology.yaml';

// ---- mutations

const replacement = fc.oneof(
  fc.constantFrom<unknown>(0, -1, 1e300, 2 ** 53 + 1, 4_294_967_296, 16_777_216, 65_536, '', 'fra', 'fra-gw1', 'corp', '10.0.0.0/8', '::/0', '999.1.1.1/24', '203.0.113.10:99999', true, null, [], {}, [[[]]], { id: 'x' }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.string({ maxLength: 70 }),
  fc.integer(),
  fc.double(),
);
const structuralOp = fc.record({ at: fc.nat(), kind: fc.nat(5), value: replacement, key: fc.string({ maxLength: 12 }) });
type StructuralOp = typeof structuralOp extends fc.Arbitrary<infer T> ? T : never;

/** Every container in the value with its path, for picking a place to mutate. */
function containers(v: unknown, out: (unknown[] | Record<string, unknown>)[] = []): (unknown[] | Record<string, unknown>)[] {
  if (Array.isArray(v)) {
    out.push(v);
    v.forEach((x) => containers(x, out));
  } else if (v && typeof v === 'object') {
    out.push(v as Record<string, unknown>);
    Object.values(v).forEach((x) => containers(x, out));
  }
  return out;
}

function mutateStructure(doc: unknown, ops: readonly StructuralOp[]): unknown {
  const copy = structuredClone(doc);
  for (const op of ops) {
    const all = containers(copy);
    const c = all[op.at % all.length]!;
    const keys = Array.isArray(c) ? c.map((_, i) => i) : Object.keys(c);
    const k = keys.length ? keys[op.at % keys.length]! : undefined;
    const get = (key: string | number) => (c as Record<string | number, unknown>)[key];
    const set = (key: string | number, val: unknown) => ((c as Record<string | number, unknown>)[key] = val);
    switch (op.kind) {
      case 0: // delete a key or an element
        if (k === undefined) break;
        if (Array.isArray(c)) c.splice(k as number, 1);
        else delete c[k as string];
        break;
      case 1: // swap the value for another type
        if (k !== undefined) set(k, op.value);
        break;
      case 2: // duplicate an element (duplicate ids) or a value under a new key
        if (k === undefined) break;
        if (Array.isArray(c)) c.push(structuredClone(get(k)));
        else c[op.key] = structuredClone(get(k));
        break;
      case 3: // rename a key (a typo)
        if (k === undefined || Array.isArray(c)) break;
        c[op.key] = c[k as string];
        delete c[k as string];
        break;
      case 4: // an unknown key, or an extra element
        if (Array.isArray(c)) c.push(op.value);
        else c[op.key] = op.value;
        break;
      default: // empty the container
        if (Array.isArray(c)) c.length = 0;
        else for (const key of Object.keys(c)) delete c[key];
    }
  }
  return copy;
}

const byteOps = fc.array(fc.record({ kind: fc.nat(4), at: fc.nat(20_000), value: fc.nat(255) }), { minLength: 1, maxLength: 5 });

function laughs(levels: number): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
  lines.push(`sites: *a${levels - 1}`);
  return lines.join('\n') + '\n';
}

/** Documents every YAML edge must survive, whatever schema it reads. */
const HOSTILE: readonly [string, (base: string) => string][] = [
  ['alias bomb', () => laughs(9)],
  ['alias bomb inside the schema', (b) => `${b}\nx-bomb: &b0 [1,1,1,1,1,1,1,1,1]\n`.replace(/^sites:/m, 'sites: &s')],
  ['aliased section', (b) => b.replace(/^links:/m, 'links: *s').replace(/^sites:/m, 'sites: &s')],
  ['deep flow nesting', () => `sites: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`],
  ['deep block nesting', () => Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i)}- `).join('\n') + 'x\n'],
  ['nesting at the limit', () => `sites: ${'['.repeat(MAX_YAML_NESTING - 1)}${']'.repeat(MAX_YAML_NESTING - 1)}\n`],
  ['merge key', (b) => `${b}\nx: &m { id: extra }\n`],
  ['custom tag', () => 'sites: !!js/function "function () {}"\n'],
  ['binary tag', () => 'sites: !!binary aGVsbG8=\n'],
  ['two documents', (b) => `${b}\n---\n${b}`],
  ['tabs', (b) => b.replace(/^ {2}/gm, '\t')],
  ['duplicate key', (b) => `${b}\nsites: []\n`],
  ['huge number', (b) => b.replace(/cost: 1,/, `cost: ${'9'.repeat(400)},`)],
  ['empty', () => ''],
  ['only a comment', () => '# nothing\n'],
  ['a scalar', () => 'just text\n'],
  ['a list', () => '- 1\n- 2\n'],
  ['NUL bytes', (b) => b.replace('fra', 'f\u0000ra')],
  ['BOM and CRLF', (b) => `\ufeff${b.replace(/\n/g, '\r\n')}`],
  ['long line', () => `sites: [${'{ id: a }, '.repeat(20_000)}]\n`],
];

type Outcome = { ok: true } | { ok: false; err: SwitchbackError };

/** Runs `fn`; a SwitchbackError is a refusal, anything else thrown fails the property. */
function attempt(fn: () => void, what: string): Outcome {
  try {
    fn();
    return { ok: true };
  } catch (err) {
    if (!(err instanceof SwitchbackError)) throw new Error(`${what}: threw ${(err as Error)?.constructor?.name}, not a SwitchbackError: ${(err as Error)?.stack ?? err}`);
    assert.ok(err.code !== 'INTERNAL', `${what}: INTERNAL error: ${err.message}`);
    return { ok: false, err };
  }
}

const s = suite('yaml fuzz');
let proc: ControllerProcess;
let dir: string;

s.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sb-fuzz-yaml-'));
});
s.after(async () => {
  await proc?.kill();
  rmSync(dir, { recursive: true, force: true });
});

/** A controller on a memory store holding the example topology. */
function freshController(): Controller {
  const ctl = new Controller({ store: new MemoryStore(), clock: new SystemClock() });
  ctl.applyTopology(parseTopologyYaml(EXAMPLE, 'examples/topology.yaml'), 'test');
  return ctl;
}

const topologyInput = (base: string) =>
  fc.oneof(
    { arbitrary: fc.array(structuralOp, { minLength: 1, maxLength: 4 }).map((ops) => ({ how: 'structure' as const, ops })), weight: 6 },
    { arbitrary: byteOps.map((ops) => ({ how: 'bytes' as const, ops })), weight: 3 },
    { arbitrary: fc.nat(HOSTILE.length - 1).map((i) => ({ how: 'hostile' as const, i })), weight: 1 },
  );

type Spec = { how: 'structure'; ops: StructuralOp[] } | { how: 'bytes'; ops: { kind: number; at: number; value: number }[] } | { how: 'hostile'; i: number };

function render(base: string, spec: Spec): string {
  if (spec.how === 'bytes') return mutate(Buffer.from(base), spec.ops).toString('utf8');
  if (spec.how === 'hostile') return HOSTILE[spec.i]![1](base);
  return stringify(mutateStructure(parseYamlJs(base), spec.ops), { aliasDuplicateObjects: false });
}

s('topology YAML: a valid model or one SwitchbackError naming the file; a refused apply changes nothing', () => {
  const t = tally('yaml-topology');
  const ctl = freshController();
  let withLine = 0;
  fc.assert(
    fc.property(topologyInput(EXAMPLE), (spec) => {
      const text = render(EXAMPLE, spec);
      t.inputs++;
      if (spec.how === 'hostile') t.count(`hostile.${HOSTILE[spec.i]![0].replaceAll(' ', '-')}`);
      const before = ctl.topology();
      const seq = ctl.store.lastSeq();
      let parsed: ReturnType<typeof parseTopologyYaml> | undefined;
      let out = attempt(() => (parsed = parseTopologyYaml(text, SOURCE, { current: before })), 'parse');
      if (out.ok) out = attempt(() => ctl.applyTopology(parsed!, 'fuzz'), 'apply');
      if (!out.ok) {
        t.refused++;
        assert.ok(out.err.message.includes(SOURCE) || out.err.source === SOURCE || !parsed, `a parse refusal names the file: ${out.err.message}`);
        if (/:\d+:/.test(out.err.message) || out.err.line) withLine++;
        assert.equal(ctl.topology(), before, 'a refused apply changes nothing');
        assert.is(ctl.store.lastSeq(), seq, 'a refused apply journals nothing');
        return;
      }
      t.accepted++;
      // An accepted file is a model the controller stands by: it exports and reads back the same.
      const stored = ctl.topology();
      // (Compared as sets: the order of the lists is not part of the model.)
      const json = (x: Record<string, unknown[]>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v.map((e) => JSON.stringify(e)).sort()]));
      assert.equal(json(parseTopologyYaml(topologyToYaml(stored), 'export', { current: stored }) as never), json(stored as never));
      if (ctl.store.lastSeq() !== seq) ctl.applyTopology(parseTopologyYaml(EXAMPLE, 'examples/topology.yaml', { current: stored }), 'test');
    }),
    { numRuns: RUNS, includeErrorInReport: true },
  );
  // Every hostile document once, whatever the random runs picked.
  for (const [name, make] of HOSTILE) {
    t.inputs++;
    const before = ctl.topology();
    const out = attempt(() => ctl.applyTopology(parseTopologyYaml(make(EXAMPLE), SOURCE, { current: before }), 'fuzz'), name);
    assert.ok(!out.ok || ['merge key', 'BOM and CRLF'].includes(name), `hostile document '${name}' was accepted`);
    if (!out.ok) {
      t.refused++;
      assert.ok(out.err.message.includes(SOURCE), `${name}: ${out.err.message}`);
      assert.equal(ctl.topology(), before);
    } else {
      t.accepted++;
      ctl.applyTopology(parseTopologyYaml(EXAMPLE, 'examples/topology.yaml', { current: ctl.topology() }), 'test');
    }
  }
  t.count('refusals-with-line', withLine);
  console.log(t.line());
  assert.ok(t.refused > 0 && t.accepted > 0, 'both outcomes occur');
});

s('an alias bomb and deep nesting are refused quickly and name the line', () => {
  const bomb = attempt(() => parseTopologyYaml(laughs(9), SOURCE), 'bomb');
  assert.ok(!bomb.ok && /alias/i.test(bomb.err.message), !bomb.ok ? bomb.err.message : 'accepted');
  for (const doc of [`sites: ${'['.repeat(5_000)}${']'.repeat(5_000)}\n`, Array.from({ length: 2_000 }, (_, i) => `${' '.repeat(i)}- `).join('\n') + 'x\n']) {
    // Twice: the yaml package used to abort the process on the parse after a stack overflow.
    for (let i = 0; i < 2; i++) {
      const deep = attempt(() => parseTopologyYaml(doc, SOURCE), 'deep');
      assert.ok(!deep.ok && deep.err.message.includes(`nested more than ${MAX_YAML_NESTING} levels`), !deep.ok ? deep.err.message : 'accepted');
      assert.ok(deep.err.line !== undefined && deep.err.message.includes(`${SOURCE}:`), deep.err.message);
    }
  }
});

s('scenario YAML: a valid scenario or one SwitchbackError naming the file', () => {
  const t = tally('yaml-scenario');
  const readFile = (p: string) => {
    if (basename(p) === 'topology.yaml') return EXAMPLE;
    throw new Error(`ENOENT: no such file ${p}`);
  };
  // Half the runs carry the topology inline, so that its structure is mutated too.
  const bases = SCENARIOS.flatMap(({ name, text }) => {
    const doc = parseYamlJs(text) as Record<string, unknown>;
    delete doc.topology_file;
    return [
      { name, text },
      { name: `inline-${name}`, text: stringify({ ...doc, topology: parseYamlJs(EXAMPLE) }) },
    ];
  });
  let withLine = 0;
  fc.assert(
    fc.property(fc.nat(bases.length - 1), topologyInput(''), (b, spec) => {
      const base = bases[b]!;
      const text = render(base.text, spec);
      t.inputs++;
      const source = join(root, 'examples', `fuzz-${base.name}`);
      let scenario: ReturnType<typeof parseScenario> | undefined;
      const out = attempt(() => (scenario = parseScenario(text, source, { readFile })), 'scenario');
      if (!out.ok) {
        t.refused++;
        const m = out.err.message;
        assert.ok(m.includes(source) || m.includes('topology.yaml'), `the refusal names the file: ${m}`);
        if (/:\d+:/.test(m) || out.err.line) withLine++;
        return;
      }
      t.accepted++;
      assert.ok(scenario!.topology.sites.length > 0 && Object.isFrozen(scenario), 'an accepted scenario is a frozen model with a topology');
    }),
    { numRuns: Math.ceil(RUNS / 2), includeErrorInReport: true },
  );
  t.count('refusals-with-line', withLine);
  console.log(t.line());
  assert.ok(t.refused > 0 && t.accepted > 0, 'both outcomes occur');
});

s('`switchback ctl apply` of mutated files against a real controller: the same verdict as in-process, and a refusal changes nothing', async () => {
  const t = tally('yaml-ctl-apply');
  proc = await startControllerProcess(['--data-dir', join(dir, 'data'), '--http', 'off']);
  const admin = new AdminClient(proc.adminAddress);
  const local = freshController();
  const samples = fc.sample(topologyInput(EXAMPLE), { numRuns: CLI_RUNS, seed: 9 }).map((spec) => render(EXAMPLE, spec));
  // An alias bomb and deep nesting (twice: the second parse used to kill the
  // process), the example itself and a valid change, through the CLI too.
  samples.push(HOSTILE[0]![1](EXAMPLE), HOSTILE[3]![1](EXAMPLE), HOSTILE[3]![1](EXAMPLE), EXAMPLE, EXAMPLE.replace('cost: 65', 'cost: 66'));
  try {
    for (const [i, text] of samples.entries()) {
      t.inputs++;
      const file = join(dir, `apply-${i}.yaml`);
      writeFileSync(file, text);
      const before = (await admin.call('getTopology', {})).topology;
      const seq = (await admin.call('listEvents', { afterSeq: 0, limit: 10_000 })).entries.at(-1)?.seq ?? 0;
      const expectOk = attempt(() => local.applyTopology(parseTopologyYaml(text, file, { current: local.topology() }), 'fuzz', true), 'local').ok;
      const r = await sb('ctl', '--controller', proc.adminAddress, 'apply', file);
      assert.ok(proc.child.exitCode === null, `the controller died on input ${i}:\n${proc.output().slice(-2000)}`);
      assert.is(r.status === 0, expectOk, `CLI and in-process disagree on input ${i}: ${r.stderr}`);
      if (r.status === 0) {
        t.accepted++;
        await admin.call('applyTopology', { yaml: EXAMPLE, source: TOPOLOGY_FILE, dryRun: false });
        continue;
      }
      t.refused++;
      assert.ok(r.stderr.includes(basename(file)), `the error names the file: ${r.stderr}`);
      assert.not.match(r.stderr, /\n\s+at /, 'no stack trace');
      assert.equal((await admin.call('getTopology', {})).topology, before, 'a refused apply changes nothing');
      assert.is((await admin.call('listEvents', { afterSeq: seq, limit: 10 })).entries.length, 0, 'a refused apply journals nothing');
    }
  } finally {
    admin.close();
  }
  console.log(t.line());
});

s.run();
