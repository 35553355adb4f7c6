// Shared bookkeeping of the fuzz suites: what was tried and how it ended,
// printed as one line per target for docs/reliability.md, and a watch on
// exceptions that escaped every handler (a crash, had this been its own
// process).

/** `base` runs, scaled by SWITCHBACK_FUZZ_SCALE (e.g. 0.1 for a quick look, 10 for a long hunt). */
export function fuzzRuns(base: number): number {
  const scale = Number(process.env.SWITCHBACK_FUZZ_SCALE ?? 1);
  return Math.max(1, Math.round(base * (Number.isFinite(scale) && scale > 0 ? scale : 1)));
}

export interface FuzzTally {
  readonly target: string;
  inputs: number;
  crashes: number;
  refused: number;
  /** Inputs taken as valid (printed when the target counts them). */
  accepted: number;
  /** Free-form extra figures (status codes, drop reasons). */
  readonly detail: Map<string, number>;
  count(key: string, n?: number): void;
  line(): string;
}

export function tally(target: string): FuzzTally {
  const detail = new Map<string, number>();
  return {
    target,
    inputs: 0,
    crashes: 0,
    refused: 0,
    accepted: 0,
    detail,
    count(key, n = 1) {
      detail.set(key, (detail.get(key) ?? 0) + n);
    },
    line() {
      const extra = [...detail].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(' ');
      return `fuzz: ${target} ${this.inputs} inputs, ${this.crashes} crashes, ${this.refused} refused${this.accepted > 0 ? `, ${this.accepted} accepted` : ''}${extra ? ` (${extra})` : ''}`;
    },
  };
}

/** Exceptions no handler caught while the fuzz ran (in-process controller). */
export function watchEscapes(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const on = (e: unknown) => errors.push(e);
  process.on('uncaughtException', on);
  process.on('unhandledRejection', on);
  return {
    errors,
    stop() {
      process.off('uncaughtException', on);
      process.off('unhandledRejection', on);
    },
  };
}

/** A few bytes of a buffer changed, or cut, or grown: the usual mutations of a valid frame. */
export function mutate(buf: Uint8Array, ops: readonly { kind: number; at: number; value: number }[]): Buffer {
  let b = Buffer.from(buf);
  for (const op of ops) {
    const at = b.length ? op.at % b.length : 0;
    switch (op.kind % 5) {
      case 0: // flip a bit
        if (b.length) b[at] = b[at]! ^ (1 << (op.value % 8));
        break;
      case 1: // set a byte
        if (b.length) b[at] = op.value & 0xff;
        break;
      case 2: // truncate
        b = b.subarray(0, at);
        break;
      case 3: // insert a byte
        b = Buffer.concat([b.subarray(0, at), Buffer.from([op.value & 0xff]), b.subarray(at)]);
        break;
      default: // duplicate a run
        b = Buffer.concat([b, b.subarray(at, at + 1 + (op.value % 16))]);
    }
  }
  return b;
}
