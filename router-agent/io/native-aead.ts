// The agent's fast AEAD: AES-256-GCM through the small N-API addon in
// router-agent/io/tun/aead.c, which keeps one OpenSSL context per key and
// sets only the IV per packet, where node:crypto builds a cipher object per
// packet (measured: about 1 us instead of 5.5 us to seal 1400 bytes, the
// largest single cost in the agent's profile). The bytes on the wire are
// exactly those of dataplane/aead.ts; a self-test against node:crypto runs
// before the addon is trusted, and anything amiss means node:crypto.

import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { SwitchbackError } from '../../common/errors.js';
import { createLogger } from '../../common/log.js';
import { type AeadBackend, SEAL_OVERHEAD, TAG_LENGTH, nodeCryptoAead, openDatagram } from '../dataplane/aead.js';
import { TUNNEL_HEADER_LENGTH } from '../dataplane/tunnel-header.js';

const log = createLogger('aead');

const ADDON = fileURLToPath(new URL('./tun/build/Release/io.node', import.meta.url));

interface NativeCipher {
  seal(datagram: Uint8Array, plaintext: Uint8Array): boolean;
  open(datagram: Uint8Array, out: Uint8Array): boolean;
}
interface AeadAddon {
  Aead?: new (key: Uint8Array) => NativeCipher;
}

export class NativeAead implements AeadBackend {
  readonly name = 'openssl (native)';
  // One context per key Buffer, holding that key's schedule: a key Buffer
  // must not change once used (compileTable copies keys and never changes
  // them). A key dropped with its table frees its context.
  private readonly ciphers = new WeakMap<Buffer, NativeCipher>();

  constructor(private readonly Cipher: new (key: Uint8Array) => NativeCipher) {}

  seal(key: Buffer, datagram: Buffer, plaintext: Uint8Array): void {
    if (!this.cipher(key).seal(datagram, plaintext)) {
      throw new SwitchbackError('INTERNAL', `native AEAD refused to seal ${plaintext.length} bytes into a ${datagram.length}-byte datagram`);
    }
  }

  open(key: Buffer, datagram: Uint8Array): Buffer | null {
    if (datagram.length < SEAL_OVERHEAD) return null;
    const out = Buffer.allocUnsafe(datagram.length - TUNNEL_HEADER_LENGTH - TAG_LENGTH);
    return this.cipher(key).open(datagram, out) ? out : null;
  }

  private cipher(key: Buffer): NativeCipher {
    let c = this.ciphers.get(key);
    if (c === undefined) {
      c = new this.Cipher(key);
      this.ciphers.set(key, c);
    }
    return c;
  }
}

let loaded: AeadBackend | null | undefined;

/**
 * The native AEAD when its addon is built, loads with every symbol resolved
 * and passes the self-test; else null (the caller keeps node:crypto). The
 * reason is logged once.
 */
export function loadNativeAead(): AeadBackend | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const mod = { exports: {} as AeadAddon };
  try {
    // RTLD_NOW: a node without exported OpenSSL symbols fails here, not mid-packet.
    process.dlopen(mod, ADDON, constants.dlopen.RTLD_NOW);
  } catch (err) {
    log.info('native AEAD not available, using node:crypto', { reason: err instanceof Error ? err.message : String(err) });
    return loaded;
  }
  if (typeof mod.exports.Aead !== 'function') {
    log.info('native AEAD built without OpenSSL headers, using node:crypto');
    return loaded;
  }
  const native = new NativeAead(mod.exports.Aead);
  const problem = selfTest(native);
  if (problem) {
    log.warn('native AEAD failed its self-test, using node:crypto', { problem });
    return loaded;
  }
  loaded = native;
  return loaded;
}

/** Null when `b` seals and opens exactly as node:crypto does; else what differed. */
export function selfTest(b: AeadBackend): string | null {
  const key = randomBytes(32);
  for (const n of [0, 1, 15, 16, 17, 64, 1400]) {
    const plain = randomBytes(n);
    const header = randomBytes(TUNNEL_HEADER_LENGTH);
    const mine = Buffer.alloc(SEAL_OVERHEAD + n);
    const theirs = Buffer.alloc(SEAL_OVERHEAD + n);
    header.copy(mine);
    header.copy(theirs);
    try {
      b.seal(key, mine, plain);
    } catch (err) {
      return `seal of ${n} bytes threw: ${String(err)}`;
    }
    nodeCryptoAead.seal(key, theirs, plain);
    if (!mine.equals(theirs)) return `sealed ${n} bytes differently from node:crypto`;
    const opened = b.open(key, theirs);
    if (opened === null || !opened.equals(plain)) return `did not open what node:crypto sealed (${n} bytes)`;
    const back = openDatagram(key, mine);
    if (back === null || !back.equals(plain)) return `node:crypto did not open what it sealed (${n} bytes)`;
    mine[mine.length - 1] ^= 1;
    if (b.open(key, mine) !== null) return `accepted a datagram with a flipped tag bit (${n} bytes)`;
  }
  return null;
}
