// A GRE echo peer for tests: run inside a namespace, it sends every payload
// it receives back to its sender. Prints "ready" once listening.
//   node --import tsx test/helpers/gre-echo.ts <local IPv4 address>
import { GreUnderlay } from '../../router-agent/io/gre-underlay.js';

const port = await GreUnderlay.open({ localAddress: process.argv[2] ?? '', allowPlaintext: true });
port.onDatagram((bytes, from) => port.send(bytes, from));
process.once('SIGTERM', () => void port.close().then(() => process.exit(0)));
process.stdout.write('ready\n');
