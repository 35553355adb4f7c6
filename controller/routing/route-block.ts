// The routes of one gateway to every destination group, in compact form:
// primaries and backup as arc offsets into the gateway's arc list. The
// action follows from the distance: 0 = deliver (a gateway of an owning
// site), Infinity = drop (unreachable), else forward.
//
// Primary: every arc a = (S -> N) with cost(a) + d(N) = d(S) (ECMP).
// Backup (loop-free alternate): a non-primary arc to N with
//   d(N) < dist(N, S) + d(S)                  (N's shortest path avoids S)
// ranked: node-protecting first, i.e. for every primary neighbour P
//   N != P and d(N) < dist(N, P) + d(P)       (N's path avoids P too)
// then lowest cost via N, then lowest gateway id, then lowest link id (arc order).

import type { Links } from './graph.js';

export const NO_ARC = 0xffff;

export interface RouteBlock {
  /** Primaries of group g are primArcs[primStart[g] .. primStart[g+1]-1]. */
  readonly primStart: Uint32Array;
  readonly primArcs: Uint16Array;
  /** Backup arc offset per group, NO_ARC if none. */
  readonly backup: Uint16Array;
}

export interface BlockInputs {
  readonly links: Links;
  /** rows[x][y] = dist(x, y). */
  readonly rows: readonly Float64Array[];
  /** groupDist[g][x] = distance from x to the nearest gateway of group g. */
  readonly groupDist: readonly Float64Array[];
  readonly maxEcmp: number;
  readonly preferNodeProtecting: boolean;
}

/** One gateway's per-group route computation, with its constants hoisted. */
export class GatewayRouter {
  readonly deg: number;
  private readonly nb: Int32Array;
  private readonly cost: Float64Array;
  private readonly distNS: Float64Array;
  private readonly dN: Float64Array;
  private readonly isPrim: Uint8Array;
  /** Primaries of the last route() call: prim[0 .. count-1]. */
  readonly prim: Uint16Array;
  /** Backup of the last route() call. */
  backup = NO_ARC;
  /** d(S) of the last route() call that forwarded (dN holds its neighbours' distances); -1 after any other. */
  private lastDS = -1;
  private lastCount = 0;

  constructor(private readonly inp: BlockInputs, private readonly s: number) {
    const { arcStart, arcNbr, arcCost } = inp.links;
    const a0 = arcStart[s]!;
    const deg = (this.deg = arcStart[s + 1]! - a0);
    this.nb = new Int32Array(deg);
    this.cost = new Float64Array(deg);
    this.distNS = new Float64Array(deg);
    this.dN = new Float64Array(deg);
    this.isPrim = new Uint8Array(deg);
    this.prim = new Uint16Array(deg);
    const rowS = inp.rows[s]!;
    for (let k = 0; k < deg; k++) {
      this.nb[k] = arcNbr[a0 + k]!;
      this.cost[k] = arcCost[a0 + k]!;
      this.distNS[k] = rowS[this.nb[k]!]!;
    }
  }

  /**
   * Computes the route to group g: returns the number of primaries (in
   * this.prim) and sets this.backup. 0 primaries for deliver and drop.
   */
  route(g: number): number {
    const d = this.inp.groupDist[g]!;
    const dS = d[this.s]!;
    const deg = this.deg;
    if (dS === 0 || dS === Infinity || deg === 0) {
      this.backup = NO_ARC;
      this.lastDS = -1;
      return 0;
    }
    const { nb, cost, dN, isPrim, prim, distNS } = this;
    // The route is a function of d(S) and the neighbours' distances (the
    // rest is fixed for S): a group that has the same ones as the group
    // routed last has its route, still in prim and backup. Consecutive
    // groups often do (from an office, every other office is reached alike).
    let same = dS === this.lastDS;
    for (let k = 0; k < deg; k++) {
      const v = d[nb[k]!]!;
      if (dN[k] !== v) {
        same = false;
        dN[k] = v;
      }
    }
    if (same) return this.lastCount;
    this.backup = NO_ARC;
    const maxEcmp = this.inp.maxEcmp;
    let np = 0;
    for (let k = 0; k < deg; k++) {
      const v = dN[k]!;
      if (np < maxEcmp && cost[k]! + v === dS) {
        prim[np++] = k;
        isPrim[k] = 1;
      } else isPrim[k] = 0;
    }
    let best = NO_ARC;
    let bestNode = false;
    let bestCost = Infinity;
    const preferNode = this.inp.preferNodeProtecting;
    for (let k = 0; k < deg; k++) {
      if (isPrim[k]) continue;
      const dn = dN[k]!;
      if (!(dn < distNS[k]! + dS)) continue; // not loop-free (also skips unreachable N)
      let nodeProt = preferNode;
      if (nodeProt) {
        // dist(P, N) read from P's row: a deg x deg table built up front
        // costs a million reads and 8 MB at a gateway with 1,000 tunnels.
        const rows = this.inp.rows;
        const nbK = nb[k]!;
        for (let j = 0; j < np; j++) {
          const pk = prim[j]!;
          if (nb[pk] === nbK || !(dn < rows[nb[pk]!]![nbK]! + dN[pk]!)) {
            nodeProt = false;
            break;
          }
        }
      }
      const via = cost[k]! + dn;
      if (best === NO_ARC || (nodeProt && !bestNode) || (nodeProt === bestNode && via < bestCost)) {
        best = k;
        bestNode = nodeProt;
        bestCost = via;
      }
    }
    this.backup = best;
    this.lastDS = dS;
    this.lastCount = np;
    return np;
  }
}

/** The routes of gateway `s` to every group. */
export function computeBlock(inp: BlockInputs, s: number): RouteBlock {
  const G = inp.groupDist.length;
  const router = new GatewayRouter(inp, s);
  const primStart = new Uint32Array(G + 1);
  const backup = new Uint16Array(G);
  let prim: Uint16Array = new Uint16Array(Math.max(8, G + (G >> 2)));
  let np = 0;
  for (let g = 0; g < G; g++) {
    primStart[g] = np;
    const count = router.route(g);
    if (np + count > prim.length) prim = grow(prim, np + count);
    for (let j = 0; j < count; j++) prim[np++] = router.prim[j]!;
    backup[g] = router.backup;
  }
  primStart[G] = np;
  return { primStart, primArcs: prim.slice(0, np), backup };
}

/**
 * `prev` with the groups listed in `groups` recomputed (the gateway's arcs
 * must be unchanged). Calls `onChange(g)` for each of them whose primaries
 * or backup differ from `prev`.
 */
export function patchBlock(inp: BlockInputs, s: number, prev: RouteBlock, groups: readonly number[], onChange: (g: number) => void): RouteBlock {
  const router = new GatewayRouter(inp, s);
  const backup = prev.backup.slice();
  const primArcs = prev.primArcs.slice();
  let resized = false;
  const fresh = new Map<number, Uint16Array>();
  for (const g of groups) {
    const count = router.route(g);
    const ps = prev.primStart[g]!;
    const pe = prev.primStart[g + 1]!;
    let same = count === pe - ps && router.backup === prev.backup[g];
    for (let j = 0; same && j < count; j++) same = router.prim[j] === prev.primArcs[ps + j];
    if (same) continue;
    onChange(g);
    backup[g] = router.backup;
    if (count === pe - ps) primArcs.set(router.prim.subarray(0, count), ps);
    else {
      resized = true;
      fresh.set(g, router.prim.slice(0, count));
    }
  }
  if (!resized) return { primStart: prev.primStart, primArcs, backup };
  // Some primary lists changed length: lay the arrays out again.
  const G = prev.backup.length;
  const primStart = new Uint32Array(G + 1);
  let total = 0;
  for (let g = 0; g < G; g++) total += fresh.get(g)?.length ?? prev.primStart[g + 1]! - prev.primStart[g]!;
  const out = new Uint16Array(total);
  let np = 0;
  for (let g = 0; g < G; g++) {
    primStart[g] = np;
    const f = fresh.get(g);
    if (f) {
      out.set(f, np);
      np += f.length;
    } else {
      const ps = prev.primStart[g]!;
      const pe = prev.primStart[g + 1]!;
      out.set(primArcs.subarray(ps, pe), np);
      np += pe - ps;
    }
  }
  primStart[G] = np;
  return { primStart, primArcs: out, backup };
}

function grow(a: Uint16Array, need: number): Uint16Array {
  const b = new Uint16Array(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}
