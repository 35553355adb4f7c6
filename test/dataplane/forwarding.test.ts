import { inspect } from 'node:util';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { allocDatagram, sealDatagram } from '../../router-agent/dataplane/aead.js';
import { DataPlane } from '../../router-agent/dataplane/forwarding.js';
import { DEFAULT_HOP_LIMIT, PacketType, writeTunnelHeader } from '../../router-agent/dataplane/tunnel-header.js';
import { forward, ipv6, udp } from './build-packets.js';
import { K_AB, K_AC, K_AD, K_BC, gateway, sent, tableA, tableB, tableC, unseal } from './fixture.js';

const fwd = suite('forwarding decisions');

const pkt4 = (dst: string, sport = 5000) => udp({ src: '10.1.0.10', dst }, new Uint8Array(32), 4, sport);

fwd('a packet for a remote prefix is sealed to its next hop with the documented header', () => {
  const a = gateway(tableA());
  const p = pkt4('10.2.0.7');
  const d = sent(a.fromAccess(p, 0), 'B');
  const { header, payload } = unseal(K_AB, d);
  assert.equal(header, { type: PacketType.DATA, hopLimit: DEFAULT_HOP_LIMIT, keyId: 1, vrf: 10, sender: 1, counterHi: 0, counterLo: 1000 });
  // The example in docs/protocol.md, byte for byte.
  assert.is(Buffer.from(d.subarray(0, 20)).toString('hex'), '0101100100000a0000000001' + '00000000000003e8');
  assert.is(d.length, p.length + 36);
  assert.equal(Array.from(payload), Array.from(p));
  const again = unseal(K_AB, sent(a.fromAccess(p, 0)));
  assert.is(again.header.counterLo, 1001, 'the counter moves by one per sealed packet');
});

fwd('VRF separation: the same prefix in two VRFs goes to different sites, tagged with its VRF', () => {
  const a10 = gateway(tableA(), { accessVrf: 10 });
  const a20 = gateway(tableA(), { accessVrf: 20 });
  const p = pkt4('10.2.0.7');
  assert.is(unseal(K_AB, sent(a10.fromAccess(p, 0), 'B')).header.vrf, 10);
  assert.is(unseal(K_AC, sent(a20.fromAccess(p, 0), 'C')).header.vrf, 20);
  // VRF 20 has no 10.3/16: the VRF-10 route does not leak into it.
  assert.equal(a20.fromAccess(pkt4('10.3.0.1'), 0), { type: 'drop', reason: 'no_route' });
});

fwd('the receiving gateway delivers its own prefix, and only in its access VRF', () => {
  const a10 = gateway(tableA());
  const a20 = gateway(tableA(), { accessVrf: 20 });
  const b = gateway(tableB());
  const c = gateway(tableC(), { accessVrf: 20 });
  const p = pkt4('10.2.0.7');
  const v = b.fromUnderlay(sent(a10.fromAccess(p, 0)), 0);
  assert.is(v.type, 'deliver');
  if (v.type === 'deliver') {
    assert.is(v.vrf, 10);
    assert.equal(Array.from(v.bytes), Array.from(p));
  }
  // A VRF-20 packet for 10.2/16 reaches C (VRF 20 there) ...
  const toC = sent(a20.fromAccess(p, 0), 'C');
  assert.is(c.fromUnderlay(toC, 0).type, 'deliver');
  // ... and B, whose access side is VRF 10, refuses to deliver a VRF-20 packet even though its table has the prefix.
  const t = tableA();
  const a20b = gateway({ ...t, rules: [...t.rules.filter((r) => r.vrf !== 20), forward(20, '10.2.0.0/16', ['B'])] }, { accessVrf: 20, initialCounter: 1500n });
  const toB = sent(a20b.fromAccess(p, 0), 'B');
  assert.equal(b.fromUnderlay(toB, 0), { type: 'drop', reason: 'no_route' });
  assert.is(b.counters.deliveredPackets, 1);
});

fwd('IPv6 is forwarded and delivered the same way', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const p = udp({ src: 'fd00:1::10', dst: 'fd00:2::20' }, new Uint8Array(10), 6);
  const v = b.fromUnderlay(sent(a.fromAccess(p, 0), 'B'), 0);
  assert.is(v.type, 'deliver');
});

fwd('local prefixes, drop rules and missing routes', () => {
  const a = gateway(tableA());
  assert.is(a.fromAccess(pkt4('10.1.0.99'), 0).type, 'deliver');
  assert.equal(a.fromAccess(pkt4('10.9.0.1'), 0), { type: 'drop', reason: 'policy' });
  assert.equal(a.fromAccess(pkt4('192.168.77.1'), 0), { type: 'drop', reason: 'no_route' });
  assert.equal(a.fromAccess(ipv6({ dst: '2001:db8::1' }), 0), { type: 'drop', reason: 'no_route' });
  const s = a.snapshot();
  assert.is(s.drops.policy, 1);
  assert.is(s.drops.no_route, 2);
});

fwd('something that is not bytes is a counted malformed drop on every entry point', () => {
  const a = gateway(tableA());
  for (const junk of [undefined, null, 'packet', 42, {}, [0x45]]) {
    assert.equal(a.fromAccess(junk as never, 0), { type: 'drop', reason: 'malformed' });
    assert.equal(a.fromUnderlay(junk as never, 0), { type: 'drop', reason: 'malformed' });
  }
  assert.equal(gateway(tableA(), { underlay: 'gre' }).fromGre(null as never, '192.0.2.2', 0), { type: 'drop', reason: 'malformed' });
  assert.is(a.snapshot().drops.malformed, 12);
});

fwd('no table yet: access packets are no_route, underlay packets unknown_peer', () => {
  const a = gateway(tableA());
  const fresh = new DataPlane({ accessVrf: 10, initialCounter: 1n });
  assert.equal(fresh.fromAccess(pkt4('10.2.0.1'), 0), { type: 'drop', reason: 'no_route' });
  assert.equal(fresh.fromUnderlay(sent(a.fromAccess(pkt4('10.2.0.1'), 0)), 0), { type: 'drop', reason: 'unknown_peer' });
  assert.is(fresh.tableVersion, null);
});

fwd('ECMP spreads flows over the live primaries, and a flow always takes the same one', () => {
  const a = gateway(tableA());
  const perPeer = new Map<string, number>();
  const choice = new Map<number, string>();
  for (let port = 1000; port < 3000; port++) {
    const v = a.fromAccess(pkt4('10.3.0.1', port), 0);
    assert.is(v.type, 'send');
    if (v.type !== 'send') continue;
    perPeer.set(v.peer.gatewayId, (perPeer.get(v.peer.gatewayId) ?? 0) + 1);
    choice.set(port, v.peer.gatewayId);
  }
  assert.equal([...perPeer.keys()].sort(), ['B', 'C']);
  for (const n of perPeer.values()) assert.ok(n > 800 && n < 1200, `share ${n} of 2000`);
  for (let port = 1000; port < 1100; port++) {
    const v = a.fromAccess(pkt4('10.3.0.1', port), 0);
    assert.is(v.type === 'send' && v.peer.gatewayId, choice.get(port));
  }
  // B goes down: its flows move to C, C's flows stay where they were (rendezvous hashing).
  a.setPeerState('B', false);
  for (let port = 1000; port < 3000; port++) {
    const v = a.fromAccess(pkt4('10.3.0.1', port), 0);
    assert.is(v.type === 'send' && v.peer.gatewayId, 'C');
  }
});

fwd('the backup takes over when every primary is down, and nothing goes when it is down too', () => {
  const a = gateway(tableA());
  const p = pkt4('10.4.0.1');
  sent(a.fromAccess(p, 0), 'B');
  assert.ok(a.setPeerState('B', false));
  assert.is(a.peer('B')?.up, false);
  unseal(K_AC, sent(a.fromAccess(p, 0), 'C'));
  a.setPeerState('C', false);
  assert.equal(a.fromAccess(p, 0), { type: 'drop', reason: 'no_usable_next_hop' });
  a.setPeerState('B', true);
  sent(a.fromAccess(p, 0), 'B');
  // ECMP rule: both primaries down -> backup D; D down -> drop.
  a.setPeerState('B', false);
  unseal(K_AD, sent(a.fromAccess(pkt4('10.3.0.1'), 0), 'D'));
  a.setPeerState('D', false);
  assert.equal(a.fromAccess(pkt4('10.3.0.1'), 0), { type: 'drop', reason: 'no_usable_next_hop' });
  // A rule without a backup: primary down -> drop.
  assert.equal(a.fromAccess(pkt4('10.2.0.1'), 0), { type: 'drop', reason: 'no_usable_next_hop' });
  assert.is(a.snapshot().drops.no_usable_next_hop, 3);
  assert.not.ok(a.setPeerState('nobody', false));
});

fwd('peer state survives a new table version', () => {
  const a = gateway(tableA());
  a.setPeerState('B', false);
  a.setTable(tableA(2));
  sent(a.fromAccess(pkt4('10.4.0.1'), 0), 'C');
});

fwd('transit: B re-seals for C with the hop limit decremented, under its own sender id and key', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const c = gateway(tableC());
  const p = pkt4('10.5.0.9');
  const toC = sent(b.fromUnderlay(sent(a.fromAccess(p, 0), 'B'), 0), 'C');
  const { header, payload } = unseal(K_BC, toC);
  assert.is(header.hopLimit, DEFAULT_HOP_LIMIT - 1);
  assert.is(header.sender, 2);
  assert.is(header.vrf, 10);
  assert.equal(Array.from(payload), Array.from(p));
  const v = c.fromUnderlay(toC, 0);
  assert.is(v.type, 'deliver');
  assert.is(b.counters.transitPackets, 1);
});

fwd('hop limit: expiry in transit is dropped and counted, a zero hop limit is refused even for delivery', () => {
  const b = gateway(tableB());
  const a1 = gateway(tableA(), { hopLimit: 1 });
  assert.equal(b.fromUnderlay(sent(a1.fromAccess(pkt4('10.5.0.9'), 0)), 0), { type: 'drop', reason: 'hop_limit' });
  // hop limit 1 still delivers locally: only forwarding spends a hop.
  assert.is(b.fromUnderlay(sent(a1.fromAccess(pkt4('10.2.0.9'), 0)), 0).type, 'deliver');
  const a2 = gateway(tableA(), { hopLimit: 2, initialCounter: 2000n });
  assert.is(unseal(K_BC, sent(b.fromUnderlay(sent(a2.fromAccess(pkt4('10.5.0.9'), 0)), 0), 'C')).header.hopLimit, 1);
  // A correctly sealed data packet with hop limit 0 is refused, though it is for B itself.
  const p = pkt4('10.2.0.9');
  const d = allocDatagram(p.length);
  writeTunnelHeader(d, PacketType.DATA, 0, 1, 10, 1, 0, 3000);
  sealDatagram(K_AB, d, p);
  assert.equal(b.fromUnderlay(d, 0), { type: 'drop', reason: 'hop_limit' });
  assert.is(b.snapshot().drops.hop_limit, 2);
});

fwd('per-rule and per-peer counters', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const p = pkt4('10.2.0.7');
  let bytes = 0;
  for (let i = 0; i < 5; i++) {
    const d = sent(a.fromAccess(p, 0));
    bytes += d.length;
    b.fromUnderlay(d, 0);
  }
  const sa = a.snapshot();
  const rule = sa.rules.find((r) => r.vrf === 10 && r.prefix === '10.2.0.0/16');
  assert.equal(rule, { vrf: 10, prefix: '10.2.0.0/16', action: 'forward', packets: 5, bytes: 5 * p.length });
  const pb = sa.peers.find((x) => x.gatewayId === 'B');
  assert.is(pb?.txPackets, 5);
  assert.is(pb?.txBytes, bytes);
  assert.is(pb?.tunnelMtu, 1500 - 64);
  const pa = b.snapshot().peers.find((x) => x.gatewayId === 'A');
  assert.is(pa?.rxPackets, 5);
  assert.is(pa?.rxBytes, bytes);
  assert.is(sa.tableVersion, 1);
});

fwd('probes: sealed for a peer, handed to health on the other side with payload and size', () => {
  const a = gateway(tableA());
  const b = gateway(tableB());
  const payload = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  const d = sent(a.sealProbe('B', payload, 'probe', 0), 'B');
  assert.is(unseal(K_AB, d).header.type, PacketType.PROBE);
  const v = b.fromUnderlay(d, 0);
  assert.is(v.type, 'probe');
  if (v.type === 'probe') {
    assert.is(v.peer.gatewayId, 'A');
    assert.equal(Array.from(v.payload), Array.from(payload));
    assert.is(v.datagramLength, 300 + 36);
  }
  const r = b.fromUnderlay(sent(a.sealProbe('B', payload, 'probe-reply', 0)), 0);
  assert.is(r.type, 'probe-reply');
  assert.equal(a.sealProbe('Z', payload, 'probe', 0), { type: 'drop', reason: 'unknown_peer' });
  assert.is(a.counters.probesSent, 2);
  assert.is(b.counters.probesReceived, 2);
});

fwd('a measured path MTU lowers the tunnel MTU, never raises it', () => {
  const a = gateway(tableA());
  assert.ok(a.setPeerPathMtu('B', 1400));
  assert.is(a.peer('B')?.tunnelMtu, 1400 - 64);
  a.setPeerPathMtu('B', 9000);
  assert.is(a.peer('B')?.tunnelMtu, 1500 - 64);
  a.setPeerPathMtu('B', 0);
  assert.is(a.peer('B')?.underlayMtu, 1500);
  assert.throws(() => a.setPeerPathMtu('B', 100), /576-65535/);
  assert.not.ok(a.setPeerPathMtu('nobody', 1400));
});

fwd('a logged verdict never shows a key', () => {
  const a = gateway(tableA());
  const v = a.fromAccess(pkt4('10.2.0.7'), 0);
  assert.is(v.type, 'send');
  const peerView = v.type === 'send' ? v.peer : null;
  const json = JSON.stringify(peerView);
  assert.ok(json.includes('"gatewayId":"B"'), json);
  assert.not.ok(json.includes('171'), json); // K_AB is 32 bytes of 0xab = 171
  const shown = inspect(peerView, { depth: 10 });
  assert.ok(shown.includes('PeerKeys(id 1)'), shown);
  assert.not.ok(/\bab ab ab\b|171/.test(shown), shown);
});

fwd.run();
