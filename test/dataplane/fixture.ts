// A small fixed network for the data plane tests: gateway A (node 1) with
// tunnel peers B (2), C (3) and D (4), and B/C with their own tables, so a
// datagram A seals can be opened, delivered or forwarded by a real peer.
//
//   VRF 10: 10.1.0.0/16 and fd00:1::/32 are behind A; 10.2/16 -> B;
//           10.3/16 -> ECMP B,C with backup D; 10.4/16 -> B, backup C;
//           10.5/16 -> B (which forwards to C); 10.9/16 dropped; fd00:2::/32 -> B
//   VRF 20: 10.2/16 -> C (same prefix as VRF 10, another site)

import type { FlowTable } from '../../common/model.js';
import { openDatagram } from '../../router-agent/dataplane/aead.js';
import { DataPlane, type DataPlaneOptions } from '../../router-agent/dataplane/forwarding.js';
import { type TunnelHeaderFields, readTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import type { Verdict } from '../../router-agent/dataplane/verdict.js';
import { deliver, dropRule, forward, key, peer, table } from './build-packets.js';

export const K_AB = key(0xab);
export const K_AC = key(0xac);
export const K_AD = key(0xad);
export const K_BC = key(0xbc);

export function tableA(version = 1): FlowTable {
  return table(
    1,
    [peer('B', 2, K_AB), peer('C', 3, K_AC), peer('D', 4, K_AD)],
    [
      deliver(10, '10.1.0.0/16'),
      deliver(10, 'fd00:1::/32'),
      forward(10, '10.2.0.0/16', ['B']),
      forward(20, '10.2.0.0/16', ['C']),
      forward(10, '10.3.0.0/16', ['B', 'C'], 'D'),
      forward(10, '10.4.0.0/16', ['B'], 'C'),
      forward(10, '10.5.0.0/16', ['B']),
      dropRule(10, '10.9.0.0/16'),
      forward(10, 'fd00:2::/32', ['B']),
    ],
    version,
  );
}

export function tableB(version = 1): FlowTable {
  return table(
    2,
    [peer('A', 1, K_AB), peer('C', 3, K_BC)],
    [
      deliver(10, '10.2.0.0/16'),
      deliver(10, 'fd00:2::/32'),
      deliver(20, '10.2.0.0/16'), // another VRF's prefix: never written to B's access side (VRF 10)
      forward(10, '10.1.0.0/16', ['A']),
      forward(10, 'fd00:1::/32', ['A']),
      forward(10, '10.5.0.0/16', ['C']),
    ],
    version,
  );
}

export function tableC(): FlowTable {
  return table(3, [peer('A', 1, K_AC), peer('B', 2, K_BC)], [deliver(20, '10.2.0.0/16'), deliver(10, '10.5.0.0/16'), forward(10, '10.1.0.0/16', ['B'])]);
}

export function gateway(t: FlowTable, opts: Partial<DataPlaneOptions> = {}): DataPlane {
  const dp = new DataPlane({ accessVrf: 10, initialCounter: 1000n, ...opts });
  dp.setTable(t);
  return dp;
}

/** The send verdict's datagram, or a failed assertion naming what came instead. */
export function sent(v: Verdict, to?: string): Uint8Array {
  if (v.type !== 'send') throw new Error(`expected a send, got ${JSON.stringify(v.type === 'drop' ? v : v.type)}`);
  if (to !== undefined && v.peer.gatewayId !== to) throw new Error(`expected a send to ${to}, got one to ${v.peer.gatewayId}`);
  return v.bytes;
}

/** Header and plaintext of a datagram sealed under `k`. */
export function unseal(k: Buffer, d: Uint8Array): { header: TunnelHeaderFields; payload: Buffer } {
  const payload = openDatagram(k, d);
  if (payload === null) throw new Error('datagram does not open under this key');
  return { header: readTunnelHeader(d), payload };
}
