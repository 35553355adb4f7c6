// The access-side port: a TUN device owned by the agent. The site's routes
// for remote prefixes point at it; packets the kernel routes into it reach
// onPacket, and decapsulated packets for local delivery are written back.
//
// The device is created in the network namespace of the agent process and
// disappears when the port closes (it is not persistent). MTU and link state
// are set by the addon (ioctl); addresses and routes through `ip`.
//
// With offload (the default) the kernel hands over TCP bursts of up to 64 KB
// in one read, which the addon cuts into MTU-sized packets, and send() queues
// packets until the end of the current turn of the event loop so that a
// flow's consecutive segments go back in one write (tun/offload.c).

import { constants } from 'node:os';
import { SwitchbackError, invalid } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { maxLength, parseIp, parsePrefix } from '../../common/prefix.js';
import { ip } from './ip-command.js';
import { systemError } from './sys-error.js';
import { loadIoAddon } from './io-addon.js';
import { NATIVE_HANDLE } from './native-handle.js';
import { handlerThrew } from './underlay.js';

const log = createLogger('tun');

/** The addon built by node-gyp from router-agent/io/tun (see tun.c). */
interface NativeTun {
  readonly name: string;
  readonly fd: number;
  /** TSO is on: reads may be super-packets and writeBatch coalesces. */
  readonly offload: boolean;
  start(cb: (packets: Buffer[], errno: number) => void): void;
  /** Writes them all; results[i] is packet i's byte count or -errno. Returns the system calls made. */
  writeBatch(packets: Uint8Array[], results: Int32Array): number;
  offloadStats(): number[];
  close(): void;
}
interface TunAddon {
  Tun: new (name: string, offload: boolean) => NativeTun;
  setMtu(name: string, mtu: number): void;
  setUp(name: string, up: boolean): void;
  splitRead(read: Uint8Array): Buffer[];
  coalesceWrites(packets: Uint8Array[]): Buffer[];
}

/** The addon's offload logic on bytes, without a device (for tests and tools). */
export interface OffloadCodec {
  /** What one read of these bytes (virtio_net_hdr first) delivers; throws for a malformed one. */
  splitRead(read: Uint8Array): Buffer[];
  /** The writes send() would make for these packets (at most 256), each virtio_net_hdr first. */
  coalesceWrites(packets: Uint8Array[]): Buffer[];
}

export function offloadCodec(): OffloadCodec {
  const a = loadAddon();
  return { splitRead: (r) => a.splitRead(r), coalesceWrites: (p) => a.coalesceWrites(p) };
}

function loadAddon(): TunAddon {
  const l = loadIoAddon();
  if ('error' in l) throw new SwitchbackError('FAILED_PRECONDITION', l.error);
  return l.addon as TunAddon;
}

export interface TunPortOptions {
  /** Interface name (at most 15 characters; one '%d' lets the kernel number it). Default: the kernel picks tunN. */
  name?: string;
  /** 68-65535: the underlay MTU minus the tunnel overhead. */
  mtu: number;
  /** Addresses with their prefix length, e.g. '10.99.0.1/24'. */
  addresses?: readonly string[];
  /**
   * The kernel routing table (1-4294967295, not 253-255) its routes go to;
   * default the main table. A port of a VRF whose remote prefixes overlap
   * another VRF's on this gateway needs a table of its own, selected by an
   * `ip rule` for that VRF's access interface.
   */
  routeTable?: number;
  /**
   * TCP segmentation offload both ways (IFF_VNET_HDR, TSO4/6): default true.
   * A kernel that refuses it leaves the port working without (see `offload`).
   */
  offload?: boolean;
}

/** What the offload paths did (all zero without offload). */
export type TunOffloadStats = {
  /** Reads that held a TCP super-packet, and the packets cut from them. */
  rxSuperPackets: number;
  rxSegments: number;
  /** Packets whose partial checksum the agent finished. */
  rxChecksums: number;
  /** Reads dropped because their virtio header did not fit the packet. */
  rxMalformed: number;
  /** Writes that carried several packets, and the packets in them. */
  txSuperPackets: number;
  txCoalesced: number;
  /** Super-packets the kernel refused, written again one packet at a time. */
  txFallbacks: number;
  /** System calls made by send() flushes. */
  txWrites: number;
};

export type TunWriteDrop = 'invalid' | 'empty' | 'oversize' | 'queueFull' | 'rejected' | 'closed';

export interface TunCounters {
  rxPackets: number;
  rxBytes: number;
  /** Read from the device before a handler was set. */
  rxDropped: number;
  rxErrors: number;
  txPackets: number;
  txBytes: number;
  /** Packets send() did not get written, by reason; 'rejected' is the kernel refusing a malformed packet. */
  txDrops: Record<TunWriteDrop, number>;
  handlerErrors: number;
}

export type PacketHandler = (packet: Buffer) => void;

const NAME_RE = /^[A-Za-z0-9_.-]*(?:%d)?[A-Za-z0-9_.-]*$/;

function validateName(name: unknown): string {
  if (name === undefined) return '';
  if (typeof name !== 'string') throw invalid('tun.name', `must be a string, got ${typeof name}`);
  if (name.length === 0 || name.length > 15) {
    throw invalid('tun.name', `'${name}' must be 1-15 characters (Linux IFNAMSIZ), got ${name.length}`);
  }
  if (!NAME_RE.test(name) || name === '.' || name === '..') {
    throw invalid('tun.name', `'${name}' may hold only letters, digits, '_', '.', '-' and one '%d'`);
  }
  return name;
}

function validateMtu(mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    throw invalid('tun.mtu', `must be an integer 68-65535, got ${String(mtu)}`);
  }
  return mtu;
}

/** 'address/length' with host bits allowed (it is an interface address, not a route). */
function validateAddress(text: unknown, field: string): string {
  if (typeof text !== 'string' || !text.includes('/')) {
    throw invalid(field, `must be 'address/length' like '10.99.0.1/24', got ${JSON.stringify(text)}`);
  }
  const slash = text.indexOf('/');
  const addr = parseIp(text.slice(0, slash), field);
  const lenText = text.slice(slash + 1);
  const max = maxLength(addr.family);
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
    throw invalid(field, `prefix length '${lenText}' is not a number 0-${max}`);
  }
  return text;
}

function validateOffload(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'boolean') throw invalid('tun.offload', `must be true or false, got ${String(v)}`);
  return v;
}

function validateTable(table: unknown): number | undefined {
  if (table === undefined) return undefined;
  if (typeof table !== 'number' || !Number.isInteger(table) || table < 1 || table > 0xffffffff || (table >= 253 && table <= 255)) {
    throw invalid('tun.routeTable', `must be an integer 1-4294967295 other than 253-255 (default, main, local), got ${String(table)}`);
  }
  return table;
}

export class TunPort {
  readonly name: string;
  readonly mtu: number;
  readonly routeTable: number | undefined;
  readonly counters: TunCounters = {
    rxPackets: 0,
    rxBytes: 0,
    rxDropped: 0,
    rxErrors: 0,
    txPackets: 0,
    txBytes: 0,
    txDrops: { invalid: 0, empty: 0, oversize: 0, queueFull: 0, rejected: 0, closed: 0 },
    handlerErrors: 0,
  };
  private readonly dev: NativeTun;
  private handler: PacketHandler | undefined;
  private pending: Uint8Array[] = [];
  private results = new Int32Array(256);
  private flushScheduled = false;
  private txWrites = 0;
  private readonly flushNow = (): void => this.flush();
  private reading = false;
  private closed = false;
  private readonly installed = new Set<string>();
  // Route changes and close() run one at a time, in call order.
  private queue: Promise<unknown> = Promise.resolve();

  /** The addon's device, for the native fast path. */
  [NATIVE_HANDLE](): object {
    return this.dev;
  }

  private constructor(dev: NativeTun, mtu: number, routeTable: number | undefined) {
    this.dev = dev;
    this.name = dev.name;
    this.mtu = mtu;
    this.routeTable = routeTable;
  }

  /** Creates the device, sets its MTU and addresses and brings it up; on any failure nothing is left behind. */
  static async open(opts: TunPortOptions): Promise<TunPort> {
    if (typeof opts !== 'object' || opts === null) throw invalid('tun', 'options must be an object');
    const name = validateName(opts.name);
    const mtu = validateMtu(opts.mtu);
    const addresses = (opts.addresses ?? []).map((a, i) => validateAddress(a, `tun.addresses[${i}]`));
    const routeTable = validateTable(opts.routeTable);
    const offload = validateOffload(opts.offload);
    const native = loadAddon();
    let dev: NativeTun;
    try {
      dev = new native.Tun(name, offload);
    } catch (err) {
      throw systemError(`cannot create TUN device${name ? ` '${name}'` : ''}`, err, 'tun.name');
    }
    try {
      try {
        native.setMtu(dev.name, mtu);
      } catch (err) {
        throw systemError(`cannot set MTU ${mtu} on ${dev.name}`, err, 'tun.mtu');
      }
      for (const a of addresses) await ip(['address', 'add', a, 'dev', dev.name]);
      try {
        native.setUp(dev.name, true);
      } catch (err) {
        throw systemError(`cannot bring ${dev.name} up`, err);
      }
    } catch (err) {
      dev.close();
      throw err;
    }
    if (offload && !dev.offload) log.warn('the kernel refused TCP segmentation offload on the TUN device; running without', { name: dev.name });
    log.info('TUN device up', { name: dev.name, mtu, addresses, offload: dev.offload, ...(routeTable === undefined ? {} : { routeTable }) });
    return new TunPort(dev, mtu, routeTable);
  }

  /** Sets (replaces) the handler; reading starts with the first handler. */
  onPacket(cb: PacketHandler): void {
    this.handler = cb;
    if (this.reading || this.closed) return;
    this.dev.start((packets, errno) => this.received(packets, errno));
    this.reading = true;
  }

  private received(packets: Buffer[], errno: number): void {
    const c = this.counters;
    for (const p of packets) {
      const h = this.handler;
      if (!h || this.closed) {
        c.rxDropped++;
        continue;
      }
      c.rxPackets++;
      c.rxBytes += p.length;
      try {
        h(p);
      } catch (err) {
        handlerThrew(c, err, log);
      }
    }
    if (errno !== 0) {
      // The addon has stopped reading: the device is gone or broken.
      c.rxErrors++;
      log.error('TUN read failed; no more packets will be read', { name: this.name, errno });
    }
  }

  /** TCP segmentation offload is on (asked for, and the kernel agreed). */
  get offload(): boolean {
    return this.dev.offload;
  }

  offloadStats(): TunOffloadStats {
    const s = this.dev.offloadStats();
    return {
      rxSuperPackets: s[0],
      rxSegments: s[1],
      rxChecksums: s[2],
      rxMalformed: s[3],
      txSuperPackets: s[4],
      txCoalesced: s[5],
      txFallbacks: s[6],
      txWrites: this.txWrites,
    };
  }

  /**
   * Queues one IP packet; everything queued in this turn of the event loop
   * is written from a microtask, with a flow's consecutive TCP segments
   * coalesced when offload is on. Refusals are counted drops (txDrops): bad
   * input at once, what the kernel refuses when the batch is written.
   */
  send(pkt: Uint8Array): void {
    if (!this.acceptable(pkt)) return;
    this.pending.push(pkt);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushNow);
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    if (this.closed) {
      this.counters.txDrops.closed += batch.length;
      return;
    }
    if (this.results.length < batch.length) this.results = new Int32Array(batch.length);
    this.txWrites += this.dev.writeBatch(batch, this.results);
    for (let i = 0; i < batch.length; i++) this.count(batch[i].length, this.results[i]);
  }

  private acceptable(pkt: Uint8Array): boolean {
    const drops = this.counters.txDrops;
    if (this.closed) drops.closed++;
    else if (!(pkt instanceof Uint8Array)) drops.invalid++;
    else if (pkt.length === 0) drops.empty++;
    else if (pkt.length > this.mtu) drops.oversize++;
    else return true;
    return false;
  }

  private count(length: number, written: number): void {
    if (written === length) {
      this.counters.txPackets++;
      this.counters.txBytes += written;
      return;
    }
    if (written === -constants.errno.EAGAIN) this.counters.txDrops.queueFull++;
    else this.counters.txDrops.rejected++;
  }

  /** The routes this port installed, canonical text, sorted. */
  routes(): string[] {
    return [...this.installed].sort();
  }

  /**
   * Makes the kernel routes through this device exactly `prefixes`: adds
   * (`ip route replace`) the new ones and deletes the ones no longer wanted,
   * touching nothing else. Every prefix is validated before any change. If a
   * command fails the error is thrown and routes() tells what is installed;
   * the next call retries the rest.
   */
  setRoutes(prefixes: readonly string[]): Promise<void> {
    if (!Array.isArray(prefixes)) return Promise.reject(invalid('routes', 'must be an array of prefixes'));
    let wanted: Set<string>;
    try {
      wanted = new Set(prefixes.map((p, i) => parsePrefix(p, `routes[${i}]`).text));
    } catch (err) {
      return Promise.reject(err);
    }
    return this.serial(async () => {
      if (this.closed) throw new SwitchbackError('FAILED_PRECONDITION', `TUN port ${this.name} is closed`);
      for (const r of [...this.installed]) {
        if (wanted.has(r)) continue;
        await ip(['route', 'del', r, 'dev', this.name, ...this.tableArgs()]);
        this.installed.delete(r);
      }
      for (const r of wanted) {
        if (this.installed.has(r)) continue;
        await ip(['route', 'replace', r, 'dev', this.name, ...this.tableArgs()]);
        this.installed.add(r);
      }
      log.debug('routes set', { name: this.name, routes: this.installed.size });
    });
  }

  /** Removes the routes it installed and the device; idempotent. */
  close(): Promise<void> {
    return this.serial(async () => {
      if (this.closed) return;
      this.flush(); // what was queued before close() still goes out
      this.closed = true;
      for (const r of this.installed) {
        // A route already gone (someone deleted it, or the link) is fine at close.
        await ip(['route', 'del', r, 'dev', this.name, ...this.tableArgs()]).catch((err: unknown) => {
          if (!SwitchbackError.is(err, 'NOT_FOUND')) log.warn('route removal failed at close', { route: r, error: String(err) });
        });
      }
      this.installed.clear();
      this.dev.close();
      log.info('TUN device closed', { name: this.name });
    });
  }

  private tableArgs(): string[] {
    return this.routeTable === undefined ? [] : ['table', String(this.routeTable)];
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}
