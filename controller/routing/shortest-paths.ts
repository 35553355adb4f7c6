// Dijkstra over the usable arcs with a binary heap (lazy deletion). Links
// are undirected, so the row from a gateway is also the distance TO it: one
// run per gateway gives every dist(x, y) that routing needs (to destinations,
// and between a gateway's neighbours for the loop-free-alternate tests).
//
// `update` repairs one row after a single link change instead of re-running
// it (classic dynamic shortest paths): first the link is taken out (only the
// nodes all of whose shortest paths used it are recomputed, from their
// unaffected neighbours), then it is put back with its new cost (improvements
// are propagated from its ends). Each step is exact, so the row is exact.

import type { Links } from './graph.js';

class MinHeap {
  readonly node: Int32Array;
  readonly key: Float64Array;
  size = 0;
  /** Key of the element returned by the last pop(). */
  topKey = 0;

  constructor(cap: number) {
    this.node = new Int32Array(cap);
    this.key = new Float64Array(cap);
  }

  push(v: number, k: number): void {
    const hn = this.node;
    const hk = this.key;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (hk[p]! <= k) break;
      hn[i] = hn[p]!;
      hk[i] = hk[p]!;
      i = p;
    }
    hn[i] = v;
    hk[i] = k;
  }

  pop(): number {
    const hn = this.node;
    const hk = this.key;
    const top = hn[0]!;
    this.topKey = hk[0]!;
    const size = --this.size;
    if (size > 0) {
      const ln = hn[size]!;
      const lk = hk[size]!;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        if (c + 1 < size && hk[c + 1]! < hk[c]!) c++;
        if (hk[c]! >= lk) break;
        hn[i] = hn[c]!;
        hk[i] = hk[c]!;
        i = c;
      }
      hn[i] = ln;
      hk[i] = lk;
    }
    return top;
  }
}

export interface Edge {
  readonly a: number;
  readonly b: number;
  readonly cost: number;
}

export interface RowUpdate {
  readonly row: Float64Array;
  /** Nodes whose distance changed, ascending. */
  readonly changed: number[];
}

/** Scratch space reused across runs over one graph. */
export class Dijkstra {
  private readonly heap: MinHeap;
  private readonly inA: Int32Array;
  private readonly seen: Int32Array;
  private epoch = 0;

  constructor(private readonly g: Links, private readonly n: number) {
    // Every push follows a strict improvement along an arc, or seeds a node once.
    this.heap = new MinHeap(g.arcNbr.length + n + 2);
    this.inA = new Int32Array(n);
    this.seen = new Int32Array(n);
  }

  /** Distances from `src` to every node (Infinity where unreachable). */
  run(src: number): Float64Array {
    const dist = new Float64Array(this.n).fill(Infinity);
    dist[src] = 0;
    this.heap.push(src, 0);
    this.propagate(dist, -1, null);
    return dist;
  }

  /** Dijkstra from what is on the heap; skips arcs of `skipLink`; with `only`, relaxes only into nodes stamped with the epoch. */
  private propagate(dist: Float64Array, skipLink: number, only: Int32Array | null, touched?: number[]): void {
    const { arcStart, arcNbr, arcCost, arcLink } = this.g;
    const h = this.heap;
    const ep = this.epoch;
    while (h.size > 0) {
      const u = h.pop();
      const du = h.topKey;
      if (du > dist[u]!) continue;
      for (let a = arcStart[u]!, e = arcStart[u + 1]!; a < e; a++) {
        const v = arcNbr[a]!;
        const nd = du + arcCost[a]!;
        if (nd < dist[v]! && arcLink[a] !== skipLink && (only === null || only[v] === ep)) {
          dist[v] = nd;
          h.push(v, nd);
          if (touched) touched.push(v);
        }
      }
    }
  }

  /**
   * The row of some source after the link with index `link` (in the new
   * graph, -1 if it is gone) changed from `before` to `after` (undefined:
   * not usable). `row` is left as it is; null when nothing changed.
   */
  update(row: Float64Array, before: Edge | undefined, after: Edge | undefined, link: number): RowUpdate | null {
    const { arcStart, arcNbr, arcCost, arcLink } = this.g;
    const h = this.heap;
    const ep = ++this.epoch;
    const inA = this.inA;
    const seen = this.seen;
    let dist: Float64Array | null = null;
    const touched: number[] = [];

    if (before) {
      const { a, b, cost } = before;
      const far = row[a] !== Infinity && row[a]! + cost === row[b] ? b : row[b] !== Infinity && row[b]! + cost === row[a] ? a : -1;
      if (far >= 0) {
        // Nodes whose every shortest path used the link, in distance order.
        const A: number[] = [];
        h.push(far, row[far]!);
        while (h.size > 0) {
          const y = h.pop();
          if (seen[y] === ep) continue;
          seen[y] = ep;
          const dy = row[y]!;
          let supported = false;
          for (let k = arcStart[y]!, e = arcStart[y + 1]!; k < e; k++) {
            const w = arcNbr[k]!;
            if (arcLink[k] !== link && inA[w] !== ep && row[w]! + arcCost[k]! === dy) {
              supported = true;
              break;
            }
          }
          if (supported) continue;
          inA[y] = ep;
          A.push(y);
          for (let k = arcStart[y]!, e = arcStart[y + 1]!; k < e; k++) {
            const z = arcNbr[k]!;
            if (arcLink[k] !== link && dy + arcCost[k]! === row[z]) h.push(z, row[z]!);
          }
        }
        // Recompute them from their unaffected neighbours, without the link.
        dist = row.slice();
        for (const y of A) dist[y] = Infinity;
        for (const y of A) {
          let best = Infinity;
          for (let k = arcStart[y]!, e = arcStart[y + 1]!; k < e; k++) {
            const w = arcNbr[k]!;
            if (arcLink[k] !== link && inA[w] !== ep && dist[w]! + arcCost[k]! < best) best = dist[w]! + arcCost[k]!;
          }
          if (best < Infinity) {
            dist[y] = best;
            h.push(y, best);
          }
        }
        this.propagate(dist, link, inA);
        for (const y of A) touched.push(y);
      }
    }

    if (after) {
      const cur = dist ?? row;
      const { a, b, cost } = after;
      const via = cur[a]! + cost < cur[b]! ? b : cur[b]! + cost < cur[a]! ? a : -1;
      if (via >= 0) {
        dist ??= row.slice();
        dist[via] = dist[via === a ? b : a]! + cost;
        touched.push(via);
        h.push(via, dist[via]!);
        this.propagate(dist, -1, null, touched);
      }
    }

    if (!dist) return null;
    const changed: number[] = [];
    const mark = ++this.epoch;
    for (const x of touched) {
      if (seen[x] === mark) continue;
      seen[x] = mark;
      if (dist[x] !== row[x]) changed.push(x);
    }
    if (!changed.length) return null;
    changed.sort((x, y) => x - y);
    return { row: dist, changed };
  }
}

/** Elementwise minimum: the distance to the nearest of several nodes. */
export function minOf(rows: readonly Float64Array[], n: number): Float64Array {
  if (rows.length === 0) return new Float64Array(n).fill(Infinity);
  const out = rows[0]!.slice();
  for (let r = 1; r < rows.length; r++) {
    const row = rows[r]!;
    for (let i = 0; i < n; i++) if (row[i]! < out[i]!) out[i] = row[i]!;
  }
  return out;
}
