// GRE underlay port: raw IPv4 sockets for IP protocol 47 through the
// `raw-socket` package, so a gateway can tunnel to an ordinary router that
// speaks GRE. The port carries GRE payloads (GRE header + inner packet, built
// and parsed by the data plane); it adds and strips the outer IPv4 header.
//
// GRE has no authentication and no encryption: the port refuses to open
// without `allowPlaintext: true` (the agent's explicit insecure flag).
//
// raw-socket cannot bind(), so the port writes its own IPv4 header
// (IP_HDRINCL) to send from its local address, and drops received packets
// addressed to any other local address (a raw socket sees every protocol-47
// packet of its namespace, its own on loopback included: `rxForeign`).
//
// ICMP errors from peers (a router that does not speak GRE answers
// "protocol unreachable") never reach the socket: it is unconnected and has
// no IP_RECVERR, and it must stay so, since raw-socket closes a socket on
// any error the kernel reports on it.

import { createRequire } from 'node:module';
import { networkInterfaces } from 'node:os';
import { SwitchbackError, invalid, precondition } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { parseIp, type IpAddress } from '../../common/prefix.js';
import { systemError } from './sys-error.js';
import {
  MAX_PENDING_SENDS,
  deliverDatagram,
  isSendablePayload,
  newCounters,
  socketBufferOption,
  type DatagramHandler,
  type Endpoint,
  type Underlay,
  type UnderlayCounters,
} from './underlay.js';

const log = createLogger('gre-underlay');

export const IPPROTO_GRE = 47;
const IPV4_HEADER = 20;
/** The largest GRE payload in one IPv4 packet. */
export const MAX_GRE_PAYLOAD = 65535 - IPV4_HEADER;
const DEFAULT_TTL = 64;

// The parts of raw-socket (a CommonJS package without types) used here.
interface RawSocket {
  on(event: 'message', cb: (buf: Buffer, source: string) => void): RawSocket;
  on(event: 'error', cb: (err: Error) => void): RawSocket;
  on(event: 'close', cb: () => void): RawSocket;
  send(buf: Buffer, offset: number, length: number, address: string, after: (err: Error | null, bytes: number) => void): RawSocket;
  setOption(level: number, option: number, value: number): void;
  close(): RawSocket;
}
interface RawModule {
  createSocket(opts: { protocol: number; addressFamily: number; bufferSize: number }): RawSocket;
  AddressFamily: { IPv4: number };
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number };
  SocketOption: { SO_RCVBUF: number; SO_SNDBUF: number; IP_HDRINCL: number };
}

function loadRaw(): RawModule {
  try {
    return createRequire(import.meta.url)('raw-socket') as RawModule;
  } catch (err) {
    throw new SwitchbackError('FAILED_PRECONDITION', `the raw-socket package cannot be loaded (run 'npm install'): ${String(err)}`, { cause: err });
  }
}

/** An address on one of this namespace's interfaces, or inside a loopback prefix (all of 127/8 is local). */
function isLocalAddress(addr: IpAddress): boolean {
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family !== 'IPv4') continue;
      const len = i.internal && i.cidr ? Number(i.cidr.split('/')[1]) : 32;
      if (samePrefix(parseIp(i.address).bytes, addr.bytes, len)) return true;
    }
  }
  return false;
}

function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) if ((a[i >> 3] ^ b[i >> 3]) & (0x80 >> (i & 7))) return false;
  return true;
}

export interface GreUnderlayOptions {
  /** The local IPv4 address: source of sent packets, destination of received ones. */
  localAddress: string;
  /** Must be true: GRE is plaintext, for trusted underlays only. */
  allowPlaintext: boolean;
  /** Outer TTL, 1-255 (default 64). */
  ttl?: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export interface GreCounters extends UnderlayCounters {
  /** Protocol-47 packets for another local address (or our own, on loopback): not ours, ignored. */
  rxForeign: number;
}

export class GreUnderlay implements Underlay {
  readonly kind = 'gre' as const;
  readonly local: Endpoint;
  readonly counters: GreCounters = { ...newCounters(), rxForeign: 0 };
  private readonly socket: RawSocket;
  private handler: DatagramHandler | undefined;
  private pending = 0;
  private closed = false;
  private readonly localBytes: Uint8Array;
  // Destination text -> address bytes; sends go to few peers, parse each once.
  private readonly peers = new Map<string, Uint8Array | null>();
  private readonly sent: (err: Error | null, bytes: number) => void;

  private constructor(
    private readonly raw: RawModule,
    private readonly opts: Required<Omit<GreUnderlayOptions, 'allowPlaintext'>>,
    localBytes: Uint8Array,
  ) {
    this.local = Object.freeze({ host: opts.localAddress, port: 0 });
    this.localBytes = localBytes;
    this.sent = (err, bytes) => {
      this.pending = Math.max(0, this.pending - 1);
      if (err) {
        this.counters.txErrors++;
        log.debug('send failed', { error: err.message });
      } else {
        this.counters.txPackets++;
        this.counters.txBytes += bytes - IPV4_HEADER;
      }
    };
    this.socket = this.openSocket();
  }

  static async open(opts: GreUnderlayOptions): Promise<GreUnderlay> {
    if (typeof opts !== 'object' || opts === null) throw invalid('gre', 'options must be an object');
    if (opts.allowPlaintext !== true) {
      throw precondition(
        'the GRE underlay sends packets unauthenticated and unencrypted, so it is only for trusted underlays; ' +
          'enable it explicitly (allowPlaintext: true; the agent flag --gre-insecure)',
      );
    }
    const addr = parseIp(opts.localAddress, 'gre.localAddress');
    if (addr.family !== 4) throw invalid('gre.localAddress', `the GRE underlay supports IPv4 only, got '${opts.localAddress}'`);
    if (!isLocalAddress(addr)) {
      // Without bind() nothing else would notice: the port would just never receive.
      throw new SwitchbackError('UNAVAILABLE', `gre.localAddress: ${opts.localAddress} is not an address of this host (network namespace)`, {
        field: 'gre.localAddress',
      });
    }
    const ttl = opts.ttl ?? DEFAULT_TTL;
    if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw invalid('gre.ttl', `must be an integer 1-255, got ${String(ttl)}`);
    const resolved = {
      localAddress: opts.localAddress,
      ttl,
      recvBufferSize: socketBufferOption(opts.recvBufferSize, 'gre.recvBufferSize'),
      sendBufferSize: socketBufferOption(opts.sendBufferSize, 'gre.sendBufferSize'),
    };
    const port = new GreUnderlay(loadRaw(), resolved, addr.bytes);
    log.warn('GRE underlay open: packets travel unauthenticated and unencrypted', { local: opts.localAddress });
    return port;
  }

  private openSocket(): RawSocket {
    const { raw } = this;
    let s: RawSocket;
    try {
      s = raw.createSocket({ protocol: IPPROTO_GRE, addressFamily: raw.AddressFamily.IPv4, bufferSize: 65536 });
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      if (/not permitted|permission denied/i.test(msg)) {
        throw new SwitchbackError('PERMISSION_DENIED', `cannot open a raw GRE socket: ${msg} (needs root or CAP_NET_RAW)`, { cause: err });
      }
      throw systemError('cannot open a raw GRE socket', err);
    }
    try {
      s.setOption(raw.SocketLevel.IPPROTO_IP, raw.SocketOption.IP_HDRINCL, 1);
      s.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_RCVBUF, this.opts.recvBufferSize);
      s.setOption(raw.SocketLevel.SOL_SOCKET, raw.SocketOption.SO_SNDBUF, this.opts.sendBufferSize);
    } catch (err) {
      s.close();
      throw systemError('cannot set raw GRE socket options', err);
    }
    s.on('message', (buf, source) => this.received(buf, source));
    s.on('error', (err) => {
      this.counters.rxErrors++;
      log.debug('socket error', { error: err.message });
    });
    s.on('close', () => {
      if (this.closed) return;
      this.closed = true;
      log.error('raw GRE socket closed on an error; the GRE underlay is down', { local: this.local.host });
    });
    return s;
  }

  private received(buf: Buffer, source: string): void {
    const c = this.counters;
    // buf is raw-socket's receive buffer, reused for the next packet.
    if (buf.length < IPV4_HEADER || buf[0] >> 4 !== 4 || buf[9] !== IPPROTO_GRE) {
      c.rxDropped++;
      return;
    }
    const l = this.localBytes;
    if (buf[16] !== l[0] || buf[17] !== l[1] || buf[18] !== l[2] || buf[19] !== l[3]) {
      c.rxForeign++;
      return;
    }
    const ihl = (buf[0] & 0x0f) * 4;
    const total = (buf[2] << 8) | buf[3];
    const end = Math.min(total, buf.length);
    if (ihl < IPV4_HEADER || end <= ihl) {
      c.rxDropped++;
      return;
    }
    deliverDatagram(c, this.handler, Buffer.from(buf.subarray(ihl, end)), { host: source, port: 0 }, log);
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    const c = this.counters;
    const dst = this.closed || this.pending >= MAX_PENDING_SENDS || !isSendablePayload(bytes, MAX_GRE_PAYLOAD) ? null : this.peer(to);
    if (!dst) {
      c.txDropped++;
      return;
    }
    const pkt = Buffer.allocUnsafe(IPV4_HEADER + bytes.length);
    pkt[0] = 0x45; // version 4, 20-byte header
    pkt[1] = 0; // DSCP/ECN
    pkt.writeUInt16BE(pkt.length, 2); // the kernel fills it in too
    pkt.writeUInt32BE(0x00004000, 4); // id 0 (the kernel picks one), flags DF: oversize fails loudly, no fragments
    pkt[8] = this.opts.ttl;
    pkt[9] = IPPROTO_GRE;
    pkt[10] = 0; // checksum: the kernel computes it
    pkt[11] = 0;
    pkt.set(this.localBytes, 12);
    pkt.set(dst, 16);
    pkt.set(bytes, IPV4_HEADER);
    this.pending++;
    this.socket.send(pkt, 0, pkt.length, to.host, this.sent);
  }

  private peer(to: Endpoint): Uint8Array | null {
    if (typeof to !== 'object' || to === null || typeof to.host !== 'string') return null;
    let b = this.peers.get(to.host);
    if (b === undefined) {
      if (this.peers.size >= 4096) this.peers.clear();
      try {
        const a = parseIp(to.host);
        b = a.family === 4 ? a.bytes : null;
      } catch {
        b = null;
      }
      this.peers.set(to.host, b);
    }
    return b;
  }

  onDatagram(cb: DatagramHandler): void {
    if (typeof cb !== 'function') throw invalid('onDatagram', 'needs a function');
    this.handler = cb;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.socket.close();
    }
    return Promise.resolve();
  }
}
