// The one narrow port between the data plane and an underlay network. Three
// kinds: UDP (the default, crosses NAT; on node:dgram or, batched, on the
// native addon), GRE over raw IP (plaintext, trusted underlays only) and an
// in-memory hub (tests, simulator). The data plane sees only this interface,
// so the simulator swaps the network out.
//
// Packet-path contract shared by all of them (checked by test/io/underlay-contract.ts):
// - send() never throws: bad bytes or a bad destination, a full send queue or
//   a closed port are counted in `txDropped`; a send the kernel refuses in
//   `txErrors`.
// - The port may keep `bytes` until the datagram has left: do not reuse the
//   array after send().
// - The handler owns the bytes it is given (a fresh copy per datagram).
// - A handler that throws is counted (`handlerErrors`) and logged; the port
//   keeps running.

import { invalid } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';

export type UnderlayKind = 'udp' | 'gre' | 'memory';

export interface Endpoint {
  readonly host: string;
  /** UDP and memory ports; GRE has no ports and uses 0. */
  readonly port: number;
}

export type DatagramHandler = (bytes: Uint8Array, from: Endpoint) => void;

export interface UnderlayCounters {
  txPackets: number;
  txBytes: number;
  /** Refused before reaching the network: invalid bytes or destination, queue full, port closed. */
  txDropped: number;
  /** Sends the kernel refused (EMSGSIZE, EHOSTUNREACH, ...). */
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  /** Received but not delivered: malformed, or no handler set yet. */
  rxDropped: number;
  /** Socket-level receive errors (e.g. an ICMP error reported on the socket). */
  rxErrors: number;
  /** The handler threw; the datagram counts as received. */
  handlerErrors: number;
}

export interface Underlay {
  readonly kind: UnderlayKind;
  /** The address this port receives on. */
  readonly local: Endpoint;
  readonly counters: Readonly<UnderlayCounters>;
  send(bytes: Uint8Array, to: Endpoint): void;
  /** Sets (replaces) the one handler for received datagrams. */
  onDatagram(cb: DatagramHandler): void;
  /** Stops receiving and sending; idempotent. */
  close(): Promise<void>;
}

/** The largest payload a UDP datagram can carry over IPv4 (65535 - 20 - 8). */
export const MAX_UDP_PAYLOAD = 65507;

/** Sends accepted but not yet completed, per port, before further sends are dropped: never an unbounded queue. */
export const MAX_PENDING_SENDS = 4096;

/** Socket buffer size asked for by the socket-based ports: bursts at tunnel rates overflow the 208 KiB defaults. */
export const DEFAULT_SOCKET_BUFFER = 4 << 20;

/** A socket buffer size option: the default when absent, else an integer 4 KiB-1 GiB. */
export function socketBufferOption(v: unknown, field: string): number {
  if (v === undefined) return DEFAULT_SOCKET_BUFFER;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 4096 || v > 1 << 30) {
    throw invalid(field, `must be an integer 4096-${1 << 30} bytes, got ${String(v)}`);
  }
  return v;
}

export function newCounters(): UnderlayCounters {
  return {
    txPackets: 0,
    txBytes: 0,
    txDropped: 0,
    txErrors: 0,
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    rxErrors: 0,
    handlerErrors: 0,
  };
}

/** Hands one received datagram to the handler: no handler is a counted drop, a throwing handler is counted. */
export function deliverDatagram(
  c: UnderlayCounters,
  handler: DatagramHandler | undefined,
  bytes: Uint8Array,
  from: Endpoint,
  log: Logger,
): void {
  if (!handler) {
    c.rxDropped++;
    return;
  }
  c.rxPackets++;
  c.rxBytes += bytes.length;
  try {
    handler(bytes, from);
  } catch (err) {
    handlerThrew(c, err, log, { from: `${from.host}:${from.port}` });
  }
}

/**
 * Counts and logs an exception from a port's handler: loudly the first time,
 * then at debug level, so a flood of bad packets cannot fill the log.
 */
export function handlerThrew(c: { handlerErrors: number }, err: unknown, log: Logger, fields: Record<string, unknown> = {}): void {
  c.handlerErrors++;
  const all = { ...fields, error: err instanceof Error ? err.message : String(err) };
  if (c.handlerErrors === 1) log.error('handler threw; counting further ones in handlerErrors', all);
  else log.debug('handler threw', all);
}

/** A usable payload for send(): a non-empty Uint8Array no longer than `max`. */
export function isSendablePayload(bytes: unknown, max: number): bytes is Uint8Array {
  return bytes instanceof Uint8Array && bytes.length > 0 && bytes.length <= max;
}

export function isPort(port: unknown): port is number {
  return typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535;
}
