// The native fast path (router-agent/io/tun/fastpath.c) as the data plane's
// FastPathSink: hooked into the read callbacks of the native UDP socket and
// the TUN devices, it seals and opens the common case in C and leaves every
// other packet to the JS data plane, which reprograms it on every change.
//
// Why: entering the JS engine on an idle gateway costs more than the
// packet's work (see fastpath.c for the measurements); a ping through two
// agents enters it four times.

import { SwitchbackError } from '../../common/errors.js';
import type { FastPathProgram, FastPathSink } from '../dataplane/fast-path-program.js';
import { loadIoAddon } from './io-addon.js';
import { NATIVE_HANDLE, type HasNativeHandle } from './native-handle.js';

interface NativeFastPath {
  install(program: Uint8Array | null, windows: Uint32Array[], peerStates: Uint32Array, counters: Float64Array): void;
  sealFromAccess(slot: number, packet: Uint8Array): Buffer | null;
  openFromUnderlay(datagram: Uint8Array): [number, Buffer] | null;
  close(): void;
}
interface FastPathAddon {
  FastPath?: new (udp: object, tuns: object[], mtus: Uint32Array, nonce: Uint32Array) => NativeFastPath;
}

/** The FastPath class, or why there is none. */
function loadFastPath(): NonNullable<FastPathAddon['FastPath']> | string {
  const l = loadIoAddon();
  if ('error' in l) return l.error;
  return (l.addon as FastPathAddon).FastPath ?? 'the native I/O addon was built without OpenSSL headers, so without the AEAD the fast path seals with';
}

/** Why the fast path cannot be used here, or null. */
export function fastPathUnavailable(): string | null {
  const f = loadFastPath();
  return typeof f === 'string' ? f : null;
}

export class FastPath implements FastPathSink {
  private closed = false;

  private constructor(private readonly fp: NativeFastPath) {}

  /**
   * Hooks into `udp` and the access ports `tuns` (slot i = tuns[i], in the
   * data plane's accessVrfs order; a packet above a port's MTU is left to
   * JS, whose port counts it); seals with the counter cell `nonce`
   * (DataPlane.nonce). Each port takes one fast path at a time.
   */
  static open(udp: HasNativeHandle, tuns: readonly (HasNativeHandle & { readonly mtu: number })[], nonce: Uint32Array): FastPath {
    const Native = loadFastPath();
    if (typeof Native === 'string') throw new SwitchbackError('FAILED_PRECONDITION', Native);
    try {
      return new FastPath(new Native(udp[NATIVE_HANDLE](), tuns.map((t) => t[NATIVE_HANDLE]()), Uint32Array.from(tuns, (t) => t.mtu), nonce));
    } catch (err) {
      throw new SwitchbackError('FAILED_PRECONDITION', `the fast path cannot hook into these ports: ${(err as Error).message}`);
    }
  }

  install(p: FastPathProgram | null): void {
    if (this.closed) return;
    if (p === null) this.fp.install(null, [], new Uint32Array(0), new Float64Array(0));
    else this.fp.install(p.bytes, p.windows, p.peerStates, p.counters);
  }

  /** What the fast path would send for a packet from access slot `slot` (moving the counter, not sending). For tests. */
  sealFromAccess(slot: number, packet: Uint8Array): Buffer | null {
    return this.fp.sealFromAccess(slot, packet);
  }

  /** The slot and packet the fast path would deliver for a datagram (moving the replay window, not writing). For tests. */
  openFromUnderlay(datagram: Uint8Array): [number, Buffer] | null {
    return this.fp.openFromUnderlay(datagram);
  }

  /** Unhooks from the ports: from now on JS sees every packet. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fp.close();
  }
}
