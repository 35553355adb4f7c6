// `switchback agent` refuses bad arguments with a one-line reason before it
// opens any device or socket.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sb } from '../helpers/run-cli.js';

const cli = suite('switchback agent arguments');
let dir: string;
cli.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sb-agent-cli-'));
  // Owner-only, as a bundle must be: the agent checks the mode before the content.
  writeFileSync(join(dir, 'garbage.json'), '{ not json', { mode: 0o600 });
  writeFileSync(join(dir, 'other.json'), JSON.stringify({ gatewayId: 'someone-else', version: 3 }));
  writeFileSync(join(dir, 'g1.json'), JSON.stringify({ gatewayId: 'g1', version: 3 }));
});
cli.after(() => rmSync(dir, { recursive: true, force: true }));

cli('bad input gives a clear error and exit code 2', async () => {
  const cases: [string[], RegExp][] = [
    [['--table', join(dir, 'garbage.json')], /--id: the gateway id is required/],
    [['--id', 'g1'], /a table source is required: --bundle, --controller or --table/],
    [['--id', 'g1', '--table', join(dir, 'missing.json')], /--table: cannot read/],
    [['--id', 'g1', '--table', join(dir, 'garbage.json')], /--table: .*is not JSON/],
    [['--id', 'g1', '--table', join(dir, 'other.json')], /the table is for gateway 'someone-else', not 'g1'/],
    [['--id', 'g1', '--controller', '127.0.0.1:7601'], /without a --bundle the gRPC session is plain text: say so with --insecure/],
    [['--id', 'g1', '--controller', '127.0.0.1:7601', '--insecure', '--table', join(dir, 'other.json')], /either a fixed --table or a controller/],
    [['--id', 'g1', '--nats', 'nats://127.0.0.1:4222', '--transport', 'carrier-pigeon'], /--transport: must be grpc or nats/],
    [['--id', 'g1', '--bundle', join(dir, 'garbage.json')], /not JSON/],
    [['--id', 'g1', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['--id', 'g1', '--table', join(dir, 'g1.json'), '--vrf-tun', 'acquired=sb1'], /--vrf-tun: 'acquired=sb1' is not VRF=NAME/],
    [['--id', 'g1', '--table', join(dir, 'g1.json'), '--vrf-tun', '2=sb1:254'], /--vrf-tun: table 254 is one of the kernel's own/],
    [['--id', 'g1', '--table', join(dir, 'g1.json'), '--vrf', '2', '--vrf-tun', '2=sb1'], /--vrf-tun: VRF 2 is already the --vrf/],
    [['--id', 'g1', '--table', join(dir, 'g1.json'), '--vrf-tun', '2=sb0'], /--vrf-tun: device sb0 is already the --tun device/],
    [['--id', 'g1', '--table', join(dir, 'g1.json'), '--vrf-tun', '2=sb1', '--vrf-tun', '2=sb2'], /--vrf-tun: VRF 2 is given twice/],
  ];
  for (const [args, re] of cases) {
    const r = await sb('agent', ...args, '--metrics', 'off');
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.match(r.stderr, /^switchback: /);
  }
});

cli.run();
