// UDP underlay port (the default tunnel transport: it crosses NAT), with
// large socket buffers (DEFAULT_SOCKET_BUFFER). The kernel caps them at
// net.core.rmem_max / wmem_max; bufferSizes() says what was granted.

import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import { invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { parseIp } from '../../common/prefix.js';
import { systemError } from './sys-error.js';
import {
  MAX_PENDING_SENDS,
  MAX_UDP_PAYLOAD,
  deliverDatagram,
  isPort,
  isSendablePayload,
  newCounters,
  socketBufferOption,
  type DatagramHandler,
  type Endpoint,
  type Underlay,
} from './underlay.js';

const log = createLogger('udp-underlay');

export interface UdpUnderlayOptions {
  /** Local IP address to bind ('0.0.0.0' or '::' for all). */
  bindAddress: string;
  /** Local port; 0 lets the kernel choose. */
  port: number;
  /** Default DEFAULT_SOCKET_BUFFER (4 MiB). */
  recvBufferSize?: number;
  sendBufferSize?: number;
}

export class UdpUnderlay implements Underlay {
  readonly kind = 'udp' as const;
  readonly local: Endpoint;
  readonly counters = newCounters();
  private handler: DatagramHandler | undefined;
  private pending = 0;
  private closed = false;
  private readonly isTargetHost: (host: string) => boolean;
  private readonly sent: (err: Error | null, bytes: number) => void;

  private constructor(
    private readonly socket: Socket,
    local: Endpoint,
    family: 4 | 6,
  ) {
    this.local = Object.freeze(local);
    this.isTargetHost = family === 4 ? isIPv4 : isIPv6;
    // One completion callback for every send: no closure per packet.
    this.sent = (err, bytes) => {
      this.pending--;
      if (err) {
        this.counters.txErrors++;
        log.debug('send failed', { error: err.message });
      } else {
        this.counters.txPackets++;
        this.counters.txBytes += bytes;
      }
    };
    socket.on('message', (msg, rinfo) => {
      deliverDatagram(this.counters, this.handler, msg, { host: rinfo.address, port: rinfo.port }, log);
    });
    socket.on('error', (err) => {
      // dgram reports receive-side failures here; the socket stays usable.
      this.counters.rxErrors++;
      log.warn('socket error', { error: err.message });
    });
  }

  static async open(opts: UdpUnderlayOptions): Promise<UdpUnderlay> {
    if (typeof opts !== 'object' || opts === null) throw invalid('udp', 'options must be an object');
    const addr = parseIp(opts.bindAddress, 'udp.bindAddress');
    if (opts.port !== 0 && !isPort(opts.port)) throw invalid('udp.port', `must be an integer 0-65535, got ${String(opts.port)}`);
    const recvBufferSize = socketBufferOption(opts.recvBufferSize, 'udp.recvBufferSize');
    const sendBufferSize = socketBufferOption(opts.sendBufferSize, 'udp.sendBufferSize');
    const socket = createSocket({ type: addr.family === 4 ? 'udp4' : 'udp6', recvBufferSize, sendBufferSize });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(opts.port, opts.bindAddress, () => {
          socket.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      socket.close();
      throw systemError(`cannot bind UDP ${opts.bindAddress}:${opts.port}`, err, 'udp.bindAddress');
    }
    const bound = socket.address();
    const port = new UdpUnderlay(socket, { host: bound.address, port: bound.port }, addr.family);
    log.info('UDP underlay bound', { local: `${bound.address}:${bound.port}`, ...port.bufferSizes() });
    return port;
  }

  /** Socket buffer sizes the kernel granted (Linux reports double the requested value). */
  bufferSizes(): { recv: number; send: number } {
    return { recv: this.socket.getRecvBufferSize(), send: this.socket.getSendBufferSize() };
  }

  send(bytes: Uint8Array, to: Endpoint): void {
    const c = this.counters;
    if (
      this.closed ||
      this.pending >= MAX_PENDING_SENDS ||
      !isSendablePayload(bytes, MAX_UDP_PAYLOAD) ||
      typeof to !== 'object' ||
      to === null ||
      !isPort(to.port) ||
      typeof to.host !== 'string' ||
      !this.isTargetHost(to.host)
    ) {
      c.txDropped++;
      return;
    }
    this.pending++;
    try {
      this.socket.send(bytes, to.port, to.host, this.sent);
    } catch (err) {
      // dgram throws synchronously only for a socket it considers unusable.
      this.pending--;
      c.txErrors++;
      log.debug('send threw', { error: err instanceof Error ? err.message : String(err) });
    }
  }

  onDatagram(cb: DatagramHandler): void {
    if (typeof cb !== 'function') throw invalid('onDatagram', 'needs a function');
    this.handler = cb;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch (err) {
        if (!(err instanceof Error && /not running/i.test(err.message))) log.warn('close failed', { error: String(err) });
        resolve();
      }
    });
  }
}

