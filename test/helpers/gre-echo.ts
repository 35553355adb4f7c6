// A GRE echo peer for tests: run inside a namespace, it sends every payload
// it receives back to its sender. Prints "ready" once listening.
//   node --import tsx test/helpers/gre-echo.ts <local IPv4 address>
import { GreUnderlay } from '../../router-agent/io/gre-underlay.js';

// libuv lists only interfaces that are up with carrier, and a veth end gets
// its carrier a moment after both ends are up: retry briefly.
async function open(): Promise<GreUnderlay> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await GreUnderlay.open({ localAddress: process.argv[2] ?? '', allowPlaintext: true });
    } catch (err) {
      if (attempt >= 50 || (err as { code?: string }).code !== 'UNAVAILABLE') throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
const port = await open();
port.onDatagram((bytes, from) => port.send(bytes, from));
process.once('SIGTERM', () => void port.close().then(() => process.exit(0)));
process.stdout.write('ready\n');
