// A continuous ping for `npm run bench:failover`, with ping's own
// timestamps (-D): the send time of every answered ping (receive time minus
// its RTT) tells when traffic stopped and when it flowed again. ping sleeps
// `-i` after each send rather than keeping a fixed schedule, so on a busy
// machine its real spacing is longer than asked (and longer still while no
// replies come); outages are counted in lost pings times the spacing ping
// really kept across the outage.
import type { NetnsHarness } from '../test/helpers/netns.js';

export interface PingReply {
  seq: number;
  /** Wall-clock send time (ms): receive time minus RTT. */
  sentMs: number;
}

export interface PingLoss {
  /** Lost sequence numbers between the first and the last answered one. */
  lost: number;
  /** Separate runs of lost pings (1 for one clean outage). */
  gaps: number;
  /** Mean spacing of sends (ms), measured. */
  spacingMs: number;
  /** Send time of the last answered ping before the first loss, and of the first answered after the last loss. */
  lastBeforeMs?: number;
  firstAfterMs?: number;
  /** Their sequence numbers. */
  lastBeforeSeq?: number;
  firstAfterSeq?: number;
}

export class PingSeries {
  readonly replies = new Map<number, PingReply>();
  private readonly child;
  private readonly exited: Promise<void>;

  constructor(h: NetnsHarness, ns: string, dst: string, intervalMs: number) {
    this.child = h.spawn(ns, 'ping', ['-n', '-D', '-i', String(intervalMs / 1000), dst]);
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        const m = /^\[(\d+\.\d+)\].*icmp_seq=(\d+) ttl=\d+ time=([\d.]+) ms/.exec(line);
        if (m) this.replies.set(Number(m[2]), { seq: Number(m[2]), sentMs: Number(m[1]) * 1000 - Number(m[3]) });
      }
    });
  }

  /** The highest answered sequence number (0 before any). */
  lastSeq(): number {
    let max = 0;
    for (const s of this.replies.keys()) if (s > max) max = s;
    return max;
  }

  /** Answered pings in a row at the end (after the last loss). */
  tailRun(): number {
    const last = this.lastSeq();
    let n = 0;
    while (n < last && this.replies.has(last - n)) n++;
    return n;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGINT');
    await this.exited;
  }

  loss(): PingLoss {
    const seqs = [...this.replies.keys()].sort((a, b) => a - b);
    if (seqs.length < 2) return { lost: 0, gaps: 0, spacingMs: NaN };
    const first = seqs[0]!;
    const last = seqs.at(-1)!;
    let lost = 0;
    let gaps = 0;
    let lastBefore: number | undefined;
    let firstAfter: number | undefined;
    for (let s = first + 1; s <= last; s++) {
      if (this.replies.has(s)) continue;
      lost++;
      if (this.replies.has(s - 1)) {
        gaps++;
        lastBefore ??= s - 1;
      }
      if (this.replies.has(s + 1)) firstAfter = s + 1;
    }
    const spacingMs = (this.replies.get(last)!.sentMs - this.replies.get(first)!.sentMs) / (last - first);
    return {
      lost, gaps, spacingMs,
      lastBeforeMs: lastBefore === undefined ? undefined : this.replies.get(lastBefore)!.sentMs,
      firstAfterMs: firstAfter === undefined ? undefined : this.replies.get(firstAfter)!.sentMs,
      lastBeforeSeq: lastBefore,
      firstAfterSeq: firstAfter,
    };
  }
}
