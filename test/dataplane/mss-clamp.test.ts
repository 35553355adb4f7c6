import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { clampMss } from '../../router-agent/dataplane/mss-clamp.js';
import { IpPacket, parseIpPacket } from '../../router-agent/dataplane/packet.js';
import { ACK, SYN, refTransportChecksum, storedTransportChecksum, tcp } from './build-packets.js';
import { K_AB, gateway, sent, tableA, unseal } from './fixture.js';

const mss = suite('TCP MSS clamping');

const MSS_1460 = [2, 4, 0x05, 0xb4];
const mssOf = (ip: Uint8Array, at: number) => (ip[at] << 8) | ip[at + 1];
const v4 = { src: '10.1.0.10', dst: '10.2.0.7' };
const v6 = { src: 'fd00:1::10', dst: 'fd00:2::20' };

/** The packet as B receives it from A. */
function throughA(pkt: Uint8Array): Buffer {
  const a = gateway(tableA());
  return unseal(K_AB, sent(a.fromAccess(pkt, 0), 'B')).payload;
}

mss('a SYN over IPv4 is clamped to tunnel MTU - 40 and its checksum stays valid (recomputed from scratch)', () => {
  const out = throughA(tcp(v4, { flags: SYN, options: [...MSS_1460, 4, 2, 1, 1] }));
  assert.is(mssOf(out, 20 + 22), 1436 - 40);
  assert.is(storedTransportChecksum(out, 16), refTransportChecksum(out, 16));
});

mss('a SYN-ACK over IPv6 is clamped to tunnel MTU - 60', () => {
  const out = throughA(tcp(v6, { flags: SYN | ACK, options: MSS_1460 }, 6));
  assert.is(mssOf(out, 40 + 22), 1436 - 60);
  assert.is(storedTransportChecksum(out, 16), refTransportChecksum(out, 16));
});

mss('an MSS option at an odd offset (after a NOP) straddles checksum words and still checks', () => {
  const out = throughA(tcp(v4, { flags: SYN, options: [1, ...MSS_1460, 1, 1, 1] }));
  assert.is(mssOf(out, 20 + 23), 1396);
  assert.is(storedTransportChecksum(out, 16), refTransportChecksum(out, 16));
});

mss('a smaller MSS, a non-SYN segment or a SYN without the option pass unchanged', () => {
  for (const pkt of [
    tcp(v4, { flags: SYN, options: [2, 4, 0x04, 0x00] }),
    tcp(v4, { flags: ACK, options: MSS_1460 }),
    tcp(v4, { flags: SYN, options: [1, 1, 1, 0] }),
    tcp(v4, { flags: SYN }),
  ]) {
    assert.equal(Array.from(throughA(pkt.slice())), Array.from(pkt));
  }
});

mss('malformed options (zero length, running past the header, wrong MSS length) are left alone', () => {
  const p = new IpPacket();
  for (const options of [
    [2, 0, 0x05, 0xb4],
    [3, 9, 0, 0],
    [2, 6, 0x05, 0xb4, 0, 0, 0, 0],
    [8, 2, 2, 4], // an option of length 2 then an MSS cut by the header end
  ]) {
    const pkt = tcp(v4, { flags: SYN, options });
    const before = Array.from(pkt);
    assert.ok(parseIpPacket(pkt, p));
    assert.not.ok(clampMss(pkt, p, 1000), JSON.stringify(options));
    assert.equal(Array.from(pkt), before);
  }
  // A data offset beyond the segment.
  const bad = tcp(v4, { flags: SYN, options: MSS_1460 });
  bad[20 + 12] = 0xf0;
  assert.ok(parseIpPacket(bad, p));
  assert.not.ok(clampMss(bad, p, 1000));
});

mss('the clamp follows the chosen peer\'s path MTU', () => {
  const a = gateway(tableA());
  a.setPeerPathMtu('B', 1300);
  const out = unseal(K_AB, sent(a.fromAccess(tcp(v4, { flags: SYN, options: MSS_1460 }), 0))).payload;
  assert.is(mssOf(out, 42), 1300 - 64 - 40);
  assert.is(a.snapshot().mssClamped, 1);
});

mss.run();
