// The bytes of a probe inside the tunnel format (sealed like data, so a
// probe proves the data path). A probe carries its sequence number and the
// sender's send time; a path-MTU probe is padded to `size`. The reply echoes
// seq, time and size without the padding: it measures one direction.
//
//   0       4        8                16       20
//   | magic | seq u32 | sentAt f64 (ms) | size u32 | padding ...
import type { ProbePayload } from './probe-state.js';

const MAGIC = 0x53425031; // "SBP1"
export const PROBE_HEADER_BYTES = 20;

export function encodeProbe(p: ProbePayload, pad = true): Uint8Array {
  const len = pad && p.size && p.size > PROBE_HEADER_BYTES ? p.size : PROBE_HEADER_BYTES;
  const b = new Uint8Array(len);
  const v = new DataView(b.buffer);
  v.setUint32(0, MAGIC);
  v.setUint32(4, p.seq >>> 0);
  v.setFloat64(8, p.sentAt);
  v.setUint32(16, p.size ?? 0);
  return b;
}

/** The payload, or undefined for bytes that are not a probe (counted by the caller). */
export function decodeProbe(b: Uint8Array): ProbePayload | undefined {
  if (b.length < PROBE_HEADER_BYTES) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (v.getUint32(0) !== MAGIC) return undefined;
  const sentAt = v.getFloat64(8);
  if (!Number.isFinite(sentAt)) return undefined;
  const size = v.getUint32(16);
  return size ? { seq: v.getUint32(4), sentAt, size } : { seq: v.getUint32(4), sentAt };
}
