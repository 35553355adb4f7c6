// Anti-replay sliding window over 64-bit counters (RFC 6479 style, as in
// WireGuard): a ring of 32-bit blocks; moving forward clears whole blocks,
// never shifts bits. Checked only after a packet authenticated, so forged
// packets cannot move the window.
//
// Counters are two uint32 halves (hi, lo): the 64-bit value does not fit a
// double, and a BigInt per packet would allocate. (hi - topHi) * 2^32 +
// (lo - topLo) is exact while the distance is below 2^53 and keeps its sign
// beyond, which is all the window needs to know.

export const REPLAY_BITMAP_BITS = 2048;
const BLOCK_BITS = 32;
const BLOCKS = REPLAY_BITMAP_BITS / BLOCK_BITS;
/**
 * How far behind the highest counter seen a packet is still judged
 * exactly; older ones are refused. One block is kept spare so moving
 * forward only ever clears blocks.
 */
export const REPLAY_WINDOW = REPLAY_BITMAP_BITS - BLOCK_BITS;

const TWO_32 = 4294967296;

/** Words of ReplayWindow.state: the bitmap blocks, then topHi, topLo, seen. */
export const REPLAY_STATE_WORDS = BLOCKS + 3;
const TOP_HI = BLOCKS;
const TOP_LO = BLOCKS + 1;
const SEEN = BLOCKS + 2;

export class ReplayWindow {
  /**
   * The whole window in one typed array, so the native fast path
   * (io/tun/fastpath.c) can check and move the same window: bitmap blocks,
   * then the highest counter seen (hi, lo), then 1 once anything was seen.
   */
  readonly state = new Uint32Array(REPLAY_STATE_WORDS);

  /** Counters below (floorHi, floorLo) are always refused (e.g. from before this process could have been talked to). */
  constructor(
    private readonly floorHi = 0,
    private readonly floorLo = 0,
  ) {}

  /** True, and the counter is recorded, when it was not seen before and is not too old. */
  accept(hi: number, lo: number): boolean {
    if ((hi - this.floorHi) * TWO_32 + (lo - this.floorLo) < 0) return false;
    const w = this.state;
    if (w[SEEN] === 0) {
      w.fill(0, 0, BLOCKS);
      w[SEEN] = 1;
      w[TOP_HI] = hi;
      w[TOP_LO] = lo;
      return this.testAndSet(lo);
    }
    const topLo = w[TOP_LO];
    const diff = (hi - w[TOP_HI]) * TWO_32 + (lo - topLo);
    if (diff > 0) {
      if (diff >= REPLAY_BITMAP_BITS + BLOCK_BITS) {
        w.fill(0, 0, BLOCKS);
      } else {
        const topBlock = topLo >>> 5;
        // Block numbers are counter >> 5; the distance is small here, so 27 bits of it are enough.
        const steps = Math.min(((lo >>> 5) - topBlock) & 0x7ffffff, BLOCKS);
        for (let i = 1; i <= steps; i++) w[(topBlock + i) & (BLOCKS - 1)] = 0;
      }
      w[TOP_HI] = hi;
      w[TOP_LO] = lo;
      return this.testAndSet(lo);
    }
    if (-diff > REPLAY_WINDOW) return false;
    return this.testAndSet(lo);
  }

  private testAndSet(lo: number): boolean {
    const w = this.state;
    const block = (lo >>> 5) & (BLOCKS - 1);
    const bit = 1 << (lo & 31);
    if ((w[block] & bit) !== 0) return false;
    w[block] |= bit;
    return true;
  }
}
