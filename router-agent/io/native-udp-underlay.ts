// UDP underlay port on the native addon (router-agent/io/tun/udp.c): the
// same port as UdpUnderlay, with batched I/O. dgram costs one recvmsg and one
// JS callback per received datagram and one sendmsg per sent one; here one
// recvmmsg brings up to 64 datagrams to one callback, and the datagrams sent
// in one turn of the event loop (e.g. everything produced from one batch of
// TUN reads) leave in one sendmmsg, flushed from a microtask: nothing waits
// for a timer, so a lone ping is not delayed.
//
// Same counters and drop rules as UdpUnderlay; the send queue has the same
// bound (MAX_PENDING_SENDS) plus one on bytes. When the socket buffer is full
// the queue waits for the socket to be writable rather than dropping, as
// libuv does for dgram.

import { SwitchbackError, invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { formatIp, parseIp } from '../../common/prefix.js';
import { systemError } from './sys-error.js';
import { UdpUnderlay, type UdpUnderlayOptions } from './udp-underlay.js';
import {
  MAX_PENDING_SENDS,
  MAX_UDP_PAYLOAD,
  deliverDatagram,
  isPort,
  newCounters,
  socketBufferOption,
  type DatagramHandler,
  type Endpoint,
  type Underlay,
  type UnderlayCounters,
} from './underlay.js';

import { loadIoAddon } from './io-addon.js';
import { NATIVE_HANDLE } from './native-handle.js';

const log = createLogger('udp-underlay');

/** Bytes held by the send queue at most, whatever the datagram sizes. */
export const MAX_QUEUED_BYTES = 32 << 20;

/** The addon built by node-gyp from router-agent/io/tun/udp.c. */
interface NativeUdp {
  /** Kept current by the addon; see the ST_ indexes. */
  readonly stats: Float64Array;
  local(): [string, number];
  bufferSizes(): [number, number];
  start(cb: (payloads: Buffer[], sources: Buffer, errno: number) => void): void;
  /** The queue length, or -errno (EINVAL bad input, ENOBUFS full, EBADF closed). */
  queue(bytes: Uint8Array, host: string, port: number): number;
  flush(): number;
  close(): void;
}
interface UdpAddon {
  Udp: new (
    family: 4 | 6,
    address: string,
    port: number,
    recvBuffer: number,
    sendBuffer: number,
    maxQueue: number,
    maxQueueBytes: number,
    maxPayload: number,
    segmentationOffload: boolean,
  ) => NativeUdp;
  SOURCE_SIZE: number;
}

// Indexes into NativeUdp.stats (enum in udp.c).
const ST_TX_PACKETS = 0;
const ST_TX_BYTES = 1;
const ST_TX_ERRORS = 2;
const ST_TX_DROPPED = 3;
const ST_QUEUED = 4;
const ST_TX_WAITS = 5;
const ST_RX_TRUNCATED = 6;
const ST_GSO_MESSAGES = 7;
const ST_GSO_OFF = 8;
const ST_TX_LAST_ERRNO = 9;
const ST_RX_COALESCED = 10;

export interface NativeUdpUnderlayOptions extends UdpUnderlayOptions {
  /**
   * UDP segmentation offload and receive coalescing (UDP_SEGMENT, UDP_GRO):
   * a run of equal-size datagrams to one peer leaves as one message and may
   * arrive as one, walking the kernel's stack once instead of per datagram.
   * The datagrams on the wire are the same. Default true (silently off on
   * kernels before 4.18 / 5.0).
   */
  segmentationOffload?: boolean;
}

/** The addon, or undefined with the reason in nativeUdpUnavailable(). */
function loadAddon(): UdpAddon | undefined {
  const l = loadIoAddon();
  return 'addon' in l ? (l.addon as UdpAddon) : undefined;
}

/** Null when the native UDP underlay can be used; else why not. */
export function nativeUdpUnavailable(): string | null {
  const l = loadIoAddon();
  return 'error' in l ? l.error : null;
}

export class NativeUdpUnderlay implements Underlay {
  readonly kind = 'udp' as const;
  readonly local: Endpoint;
  // Receive-side counts and send refusals; the addon keeps the rest.
  private readonly c = newCounters();
  private handler: DatagramHandler | undefined;
  private closed = false;
  private flushScheduled = false;
  private readonly flushNow: () => void;
  private readonly sourceSize: number;
  // Received-from endpoints by packed address: a tunnel hears from few peers,
  // and the handler gets the same frozen object for each.
  private readonly endpoints = new Map<number | string, Endpoint>();

  /** The addon's socket, for the native fast path. */
  [NATIVE_HANDLE](): object {
    return this.dev;
  }

  private constructor(
    private readonly dev: NativeUdp,
    local: Endpoint,
    sourceSize: number,
  ) {
    this.local = Object.freeze(local);
    this.sourceSize = sourceSize;
    this.flushNow = () => {
      this.flushScheduled = false;
      if (!this.closed) this.dev.flush();
    };
    // Reading starts at once, as with dgram: datagrams before a handler is set are counted drops.
    dev.start((payloads, sources, errno) => this.received(payloads, sources, errno));
  }

  static async open(opts: NativeUdpUnderlayOptions): Promise<NativeUdpUnderlay> {
    if (typeof opts !== 'object' || opts === null) throw invalid('udp', 'options must be an object');
    const addr = parseIp(opts.bindAddress, 'udp.bindAddress');
    if (opts.port !== 0 && !isPort(opts.port)) throw invalid('udp.port', `must be an integer 0-65535, got ${String(opts.port)}`);
    const recvBufferSize = socketBufferOption(opts.recvBufferSize, 'udp.recvBufferSize');
    const sendBufferSize = socketBufferOption(opts.sendBufferSize, 'udp.sendBufferSize');
    const gso = opts.segmentationOffload ?? true;
    if (typeof gso !== 'boolean') throw invalid('udp.segmentationOffload', `must be a boolean, got ${typeof gso}`);
    const native = loadAddon();
    if (!native) throw new SwitchbackError('FAILED_PRECONDITION', nativeUdpUnavailable() ?? 'unknown');
    let dev: NativeUdp;
    try {
      dev = new native.Udp(addr.family, opts.bindAddress, opts.port, recvBufferSize, sendBufferSize, MAX_PENDING_SENDS, MAX_QUEUED_BYTES, MAX_UDP_PAYLOAD, gso);
    } catch (err) {
      throw systemError(`cannot bind UDP ${opts.bindAddress}:${opts.port}`, err, 'udp.bindAddress');
    }
    const [host, port] = dev.local();
    const u = new NativeUdpUnderlay(dev, { host, port }, native.SOURCE_SIZE);
    log.info('UDP underlay bound (native, batched)', { local: `${host}:${port}`, ...u.bufferSizes() });
    return u;
  }

  /** Socket buffer sizes the kernel granted (Linux reports double the requested value). */
  bufferSizes(): { recv: number; send: number } {
    if (this.closed) return { recv: 0, send: 0 };
    const [recv, send] = this.dev.bufferSizes();
    return { recv, send };
  }

  get counters(): Readonly<UnderlayCounters> {
    const s = this.dev.stats;
    return {
      ...this.c,
      txPackets: s[ST_TX_PACKETS],
      txBytes: s[ST_TX_BYTES],
      txErrors: s[ST_TX_ERRORS],
      txDropped: this.c.txDropped + s[ST_TX_DROPPED],
      rxDropped: this.c.rxDropped + s[ST_RX_TRUNCATED],
    };
  }

  /**
   * I/O details beyond the counters: datagrams in the send queue now, how
   * often the queue waited for a full socket buffer, sent messages that
   * carried several datagrams (segmentation offload), the errno that turned
   * offload off (0: on or never asked), the errno of the last send the
   * kernel refused (0: none), and received messages that held several
   * datagrams (receive coalescing).
   */
  ioStats(): { queued: number; waits: number; offloaded: number; offloadOff: number; lastError: number; coalesced: number } {
    const s = this.dev.stats;
    return {
      queued: s[ST_QUEUED],
      waits: s[ST_TX_WAITS],
      offloaded: s[ST_GSO_MESSAGES],
      offloadOff: s[ST_GSO_OFF],
      lastError: s[ST_TX_LAST_ERRNO],
      coalesced: s[ST_RX_COALESCED],
    };
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    // The addon checks bytes, address and port and refuses with -errno.
    if (this.closed || typeof to !== 'object' || to === null || this.dev.queue(bytes, to.host, to.port) < 0) {
      this.c.txDropped++;
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  onDatagram(cb: DatagramHandler): void {
    if (typeof cb !== 'function') throw invalid('onDatagram', 'needs a function');
    this.handler = cb;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      // Sends what the socket takes now; the rest is counted as dropped.
      this.dev.close();
    }
    return Promise.resolve();
  }

  private received(payloads: Buffer[], sources: Buffer, errno: number): void {
    const size = this.sourceSize;
    for (let i = 0; i < payloads.length; i++) {
      const from = this.source(sources, i * size);
      if (!from || this.closed) {
        this.c.rxDropped++;
        continue;
      }
      deliverDatagram(this.c, this.handler, payloads[i], from, log);
    }
    if (errno !== 0) {
      this.c.rxErrors++;
      log.warn('socket error', { errno });
    }
  }

  private source(b: Buffer, at: number): Endpoint | undefined {
    const family = b[at];
    const port = (b[at + 2] << 8) | b[at + 3];
    let key: number | string;
    if (family === 4) key = b.readUInt32BE(at + 8) * 65536 + port;
    else if (family === 6) key = b.toString('latin1', at + 2, at + 24);
    else return undefined;
    let e = this.endpoints.get(key);
    if (e === undefined) {
      let host: string;
      if (family === 4) host = `${b[at + 8]}.${b[at + 9]}.${b[at + 10]}.${b[at + 11]}`;
      else {
        const scope = b.readUInt32BE(at + 4);
        host = formatIp(6, b.subarray(at + 8, at + 24)) + (scope ? `%${scope}` : '');
      }
      e = Object.freeze({ host, port });
      if (this.endpoints.size >= 1024) this.endpoints.clear();
      this.endpoints.set(key, e);
    }
    return e;
  }
}

/** How the UDP underlay does its I/O: the batched native addon, node:dgram, or native when built. */
export type UdpIo = 'native' | 'dgram' | 'auto';

export function udpIoOption(v: unknown, field = '--udp-io'): UdpIo {
  if (v === undefined) return 'auto';
  if (v !== 'native' && v !== 'dgram' && v !== 'auto') throw invalid(field, `must be native, dgram or auto, got '${String(v)}'`);
  return v;
}

/** Opens the UDP underlay with the I/O asked for; 'auto' is the native one when its addon is built, else dgram. */
export async function openUdpUnderlay(opts: UdpUnderlayOptions, io: UdpIo = 'auto'): Promise<UdpUnderlay | NativeUdpUnderlay> {
  if (io === 'dgram') return UdpUnderlay.open(opts);
  if (io === 'native' || nativeUdpUnavailable() === null) return NativeUdpUnderlay.open(opts);
  log.info('native UDP I/O not available, using dgram', { reason: nativeUdpUnavailable() });
  return UdpUnderlay.open(opts);
}
