// The fuzzer's hands inside a namespace (agent-packet-fuzz.test.ts): sends
// the datagrams it is given on stdin over UDP or GRE from <local address>,
// and fetches the agent's metrics from there (the namespace has a route to
// the agent; the test process has not).
//   node --import tsx test/fuzz/packet-sender.ts udp|gre <local IPv4 address> <metrics URL>
// stdin, one JSON object per line:
//   {"id":1,"send":[hex,...],"to":{"host":"10.255.255.1","port":4789}}  -> {"id":1,"sent":n}
//   {"id":2,"metrics":true}                                             -> {"id":2,"text":"..."}
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { GreUnderlay } from '../../router-agent/io/gre-underlay.js';

const [mode, local, metricsUrl] = process.argv.slice(2);

type Send = (bytes: Buffer, to: { host: string; port: number }) => Promise<void>;

async function openSender(): Promise<Send> {
  if (mode === 'gre') {
    // A veth end gets its carrier a moment after both ends are up: retry briefly.
    for (let attempt = 0; ; attempt++) {
      try {
        const gre = await GreUnderlay.open({ localAddress: local!, allowPlaintext: true });
        gre.onDatagram(() => {});
        return async (bytes, to) => gre.send(bytes, to);
      } catch (err) {
        if (attempt >= 50 || (err as { code?: string }).code !== 'UNAVAILABLE') throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
  const sock = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, local, () => resolve());
  });
  sock.on('message', () => {});
  return (bytes, to) => new Promise((resolve) => sock.send(bytes, to.port, to.host, () => resolve()));
}

const send = await openSender();
const out = (o: unknown) => process.stdout.write(JSON.stringify(o) + '\n');
createInterface({ input: process.stdin }).on('line', (line) => {
  void (async () => {
    const req = JSON.parse(line) as { id: number; send?: string[]; to?: { host: string; port: number }; metrics?: boolean };
    if (req.metrics) {
      try {
        out({ id: req.id, text: await (await fetch(metricsUrl!)).text() });
      } catch (err) {
        out({ id: req.id, error: (err as Error).message });
      }
      return;
    }
    let n = 0;
    for (const hex of req.send ?? []) {
      await send(Buffer.from(hex, 'hex'), req.to!);
      // Paced, so that the agent's socket buffer never overflows: every datagram must be accounted for.
      if (++n % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    out({ id: req.id, sent: n });
  })();
});
out({ ready: true });
