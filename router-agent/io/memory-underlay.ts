// In-memory underlay: a hub connects ports by (IP address, port), with UDP's
// behaviour (datagrams copied as on a wire, delivered later, silently lost
// when nobody listens) and no sockets. Tests use it with the default
// scheduler; the simulator passes its own to deliver in virtual time.

import { isIP } from 'node:net';
import { SwitchbackError, invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import {
  MAX_UDP_PAYLOAD,
  deliverDatagram,
  isPort,
  isSendablePayload,
  newCounters,
  type DatagramHandler,
  type Endpoint,
  type Underlay,
} from './underlay.js';

const log = createLogger('memory-underlay');

export interface MemoryHubOptions {
  /**
   * Runs a delivery later. Default: setImmediate, so a pair of ports echoing
   * to each other cannot starve timers and I/O.
   */
  schedule?: (deliver: () => void) => void;
}

const EPHEMERAL_FIRST = 49152;

export class MemoryHub {
  /** Datagrams sent to an address with no open port (lost, as UDP would lose them). */
  undeliverable = 0;
  private readonly ports = new Map<string, MemoryUnderlay>();
  private readonly schedule: (deliver: () => void) => void;
  private nextEphemeral = EPHEMERAL_FIRST;

  constructor(opts: MemoryHubOptions = {}) {
    this.schedule = opts.schedule ?? ((fn) => setImmediate(fn));
  }

  /** Opens a port at host:port; port 0 picks a free one. */
  open(local: { host: string; port: number }): MemoryUnderlay {
    if (typeof local !== 'object' || local === null) throw invalid('memory', 'address must be an object {host, port}');
    if (typeof local.host !== 'string' || isIP(local.host) === 0) {
      throw invalid('memory.host', `must be an IP address like the real underlays use, got ${JSON.stringify(local.host)}`);
    }
    if (local.port !== 0 && !isPort(local.port)) throw invalid('memory.port', `must be an integer 0-65535, got ${String(local.port)}`);
    const port = local.port === 0 ? this.freePort(local.host) : local.port;
    const key = keyOf(local.host, port);
    if (this.ports.has(key)) throw new SwitchbackError('ALREADY_EXISTS', `memory underlay ${local.host}:${port} is already open`);
    const u = new MemoryUnderlay(this, Object.freeze({ host: local.host, port }));
    this.ports.set(key, u);
    return u;
  }

  /** @internal called by MemoryUnderlay */
  transmit(from: Endpoint, to: Endpoint, bytes: Uint8Array): void {
    const copy = bytes.slice();
    this.schedule(() => {
      const dest = this.ports.get(keyOf(to.host, to.port));
      if (!dest) {
        this.undeliverable++;
        return;
      }
      dest.receive(copy, from);
    });
  }

  /** @internal called by MemoryUnderlay */
  detach(u: MemoryUnderlay): void {
    const key = keyOf(u.local.host, u.local.port);
    if (this.ports.get(key) === u) this.ports.delete(key);
  }

  private freePort(host: string): number {
    for (let i = 0; i <= 65535 - EPHEMERAL_FIRST; i++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = p === 65535 ? EPHEMERAL_FIRST : p + 1;
      if (!this.ports.has(keyOf(host, p))) return p;
    }
    throw new SwitchbackError('RESOURCE_EXHAUSTED', `no free memory underlay port left on ${host}`);
  }
}

function keyOf(host: string, port: number): string {
  return `${host}|${port}`;
}

export class MemoryUnderlay implements Underlay {
  readonly kind = 'memory' as const;
  readonly counters = newCounters();
  private handler: DatagramHandler | undefined;
  private closed = false;

  constructor(
    private readonly hub: MemoryHub,
    readonly local: Endpoint,
  ) {}

  send(bytes: Uint8Array, to: Endpoint): void {
    const c = this.counters;
    if (
      this.closed ||
      !isSendablePayload(bytes, MAX_UDP_PAYLOAD) ||
      typeof to !== 'object' ||
      to === null ||
      typeof to.host !== 'string' ||
      isIP(to.host) === 0 ||
      !isPort(to.port)
    ) {
      c.txDropped++;
      return;
    }
    c.txPackets++;
    c.txBytes += bytes.length;
    this.hub.transmit(this.local, to, bytes);
  }

  onDatagram(cb: DatagramHandler): void {
    if (typeof cb !== 'function') throw invalid('onDatagram', 'needs a function');
    this.handler = cb;
  }

  /** @internal called by MemoryHub */
  receive(bytes: Uint8Array, from: Endpoint): void {
    if (this.closed) return;
    deliverDatagram(this.counters, this.handler, bytes, from, log);
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.hub.detach(this);
    }
    return Promise.resolve();
  }
}
