// The generated TypeScript is committed; this fails when it drifts from
// proto/ (someone edited a .proto and forgot `npm run gen`, or hand-edited
// the generated code), and when `buf lint` finds a problem.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlowTable, Action } from '../../common/model.js';
import { SessionRequest } from '../../proto/gen/switchback/v1/session.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const env = { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}` };

function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

const proto = suite('protobuf contract');

proto('committed generated code equals what proto/ generates', () => {
  const out = mkdtempSync(join(tmpdir(), 'sb-gen-'));
  try {
    execFileSync(bin('buf'), ['generate', '-o', out], { cwd: root, env, stdio: 'pipe' });
    const fresh = files(join(out, 'proto', 'gen'));
    const committed = files(join(root, 'proto', 'gen'));
    assert.equal([...committed.keys()].sort(), [...fresh.keys()].sort(), 'same generated files');
    for (const [name, text] of fresh) {
      assert.ok(committed.get(name) === text, `proto/gen/${name} differs from proto/: run npm run gen`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

proto('buf lint is clean', () => {
  const r = execFileSync(bin('buf'), ['lint'], { cwd: root, env, encoding: 'utf8' });
  assert.is(r.trim(), '');
});

proto('messages round-trip and bad bytes give an error, not a crash', () => {
  const t = FlowTable.fromPartial({
    gatewayId: 'fra-gw1', version: 7, epoch: 2,
    rules: [{ vrf: 1, prefix: '10.1.0.0/16', action: Action.FORWARD, primary: [{ gatewayId: 'ash-gw1', linkId: 'l1'}] }],
  });
  const back = FlowTable.decode(FlowTable.encode(t).finish());
  assert.equal(back, t);
  const req = SessionRequest.encode({ body: { $case: 'hello', hello: { gatewayId: 'g', heldVersion: 3, heldEpoch: 1, tableHash: Buffer.alloc(32), agentVersion: '0.1' } } }).finish();
  assert.throws(() => SessionRequest.decode(req.subarray(0, req.length - 5)));
});

proto.run();
