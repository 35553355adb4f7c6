// One run of the failover scenario for `npm run bench:failover`: on a
// running controlled network (test/e2e/failover.test.ts's three sites), a
// ping from the office host to the dc2 host, the primary underlay veth
// (o1's end of o1--d2) taken down, and every stage timed from the wall
// clocks every process on this machine shares: the agents' log lines (peer
// down, table applied), the controller journal's link.oper entry, ping's
// send times. Then the link is restored and the network waited back into
// its first state (peer up after the hold time, routes back, in sync).
import { waitFor, type AgentProcess } from '../test/helpers/agent-process.js';
import type { ControlledNetwork } from '../test/helpers/controlled-network.js';
import type { NetnsHarness } from '../test/helpers/netns.js';
import { linkId } from '../test/helpers/tunnel-network.js';
import { PingSeries } from './failover-ping.js';

export interface RunFigures {
  lost: number;
  /** Separate runs of lost pings; 1 when the cut caused one clean outage. */
  gaps: number;
  /** Mean ping spacing measured in this run (ms). */
  spacingMs: number;
  /** ping's real spacing across the outage: the send-time span from the last answered ping before it to the first after it, per sequence number. */
  outageSpacingMs: number;
  /** lost x outageSpacingMs (ms): the outage by ping's own clock. */
  outageMs: number;
  /** Send times of the last ping answered before the outage and the first after it (wall clock, ms), and the cut (t0..t1 bracket the `ip` command). */
  raw: { lastBeforeMs: number; firstAfterMs: number; t0: number; t1: number; cut: number };
  /** How long `ip link set down` took: the uncertainty of the cut instant (ms). */
  cutSpreadMs: number;
  /** Cut -> the first agent's peer-down line. */
  detectMs: number;
  /** Cut -> the other end's peer-down line. */
  detectOtherMs: number;
  /** Cut -> send time of the first ping answered after the outage. */
  resumeMs: number;
  /** First peer-down -> traffic flows again (with local failover). */
  localMs?: number;
  /** First peer-down -> the controller's link.oper journal entry. */
  reportMs: number;
  /** link.oper entry -> the last agent applied its new table version. */
  pushMs: number;
  /** First peer-down -> last agent applied (reportMs + pushMs). */
  reconvMs: number;
  /**
   * link.oper entries for the cut link after its 'down' one, before the
   * restore: the controller set it up again on a periodic report from the
   * end that had not yet noticed the cut (and down again when it did).
   */
  flips: number;
  /** Peer-down lines while the ping ran that the cut did not cause: another link, or before the cut (false detections). */
  falseDowns: number;
  /** The agents' health and table lines of the run, ms relative to the cut (for --json and investigations). */
  timeline: string[];
}

export interface RunOptions {
  probeIntervalMs: number;
  localFailover: boolean;
  pingMs: number;
}

const A = 'o1';
const B = 'd2';
const PRIMARY = linkId(A, B);

interface JournalRow {
  seq: number;
  atUnixMs: number;
  action: string;
  subject: string;
  summary: string;
  tables?: { gatewayId: string; version: number }[];
}

export class FailoverRunner {
  private peerAddress: string | undefined;
  /** The journal's last entry seen (runs look after it). */
  private seq = 0;

  constructor(
    private readonly h: NetnsHarness,
    private readonly cn: ControlledNetwork,
    private readonly opts: RunOptions,
  ) {}

  async run(): Promise<RunFigures> {
    const { h, cn, opts } = this;
    const [ns, ifname] = cn.net.linkIf.get(PRIMARY)!.a;
    this.peerAddress ??= await this.address(...cn.net.linkIf.get(PRIMARY)!.b);
    await this.settle();
    const seq0 = this.seq;
    const marks = this.marks();

    const ping = new PingSeries(h, cn.net.hostNs.get('office')!, cn.net.hostAddr.get('dc2')!, opts.pingMs);
    try {
      await waitFor(() => ping.tailRun() >= 30, 'pings answered before the cut', 10_000);
      // A random phase against the probe ticks.
      await sleep(Math.random() * opts.probeIntervalMs);
      const t0 = Date.now();
      await h.setLink(ns, ifname, 'down');
      const t1 = Date.now();

      // Passive wait (log lines and ping output only): a `ctl` process now
      // would take CPU from the agents being timed.
      await this.waitOrExplain(
        () => this.peerDown(A, marks, t0) !== undefined && this.peerDown(B, marks, t0) !== undefined && ping.lastSeq() > 0 && this.lostSince(ping, t1) && ping.tailRun() >= 20
          && this.appliedAfter(A, marks, t0) && this.appliedAfter(B, marks, t0),
        'recovery after the cut', 30_000, marks,
      );
      await sleep(100);
      await ping.stop();
      const tEnd = Date.now();

      const events = await this.events(seq0);
      const entry = events.find((e) => e.action === 'link.oper' && e.subject === PRIMARY && / down,/.test(e.summary) && e.atUnixMs >= t0);
      if (!entry) throw new Error(`no link.oper down entry for ${PRIMARY} after the cut (journal after #${seq0})`);
      const loss = ping.loss();
      if (loss.lastBeforeMs === undefined || loss.firstAfterMs === undefined) throw new Error('the cut lost no pings: nothing to measure');
      const outageSpacingMs = (loss.firstAfterMs - loss.lastBeforeMs) / (loss.firstAfterSeq! - loss.lastBeforeSeq!);
      const cut = clamp(loss.lastBeforeMs + loss.spacingMs, t0, t1);
      const downA = this.peerDown(A, marks, t0)!;
      const downB = this.peerDown(B, marks, t0)!;
      const firstDown = Math.min(downA, downB);
      const applied = (entry.tables ?? []).map((t) => {
        const at = this.appliedAt(t.gatewayId, t.version, marks);
        if (at === undefined) throw new Error(`${t.gatewayId} has no 'table applied version=${t.version}' (or newer) line`);
        return at;
      });
      if (applied.length === 0) throw new Error(`the link.oper entry #${entry.seq} changed no table`);
      const lastApplied = Math.max(...applied);
      const figures: RunFigures = {
        lost: loss.lost,
        gaps: loss.gaps,
        spacingMs: loss.spacingMs,
        outageSpacingMs,
        outageMs: loss.lost * outageSpacingMs,
        raw: { lastBeforeMs: loss.lastBeforeMs, firstAfterMs: loss.firstAfterMs, t0, t1, cut },
        cutSpreadMs: t1 - t0,
        detectMs: firstDown - cut,
        detectOtherMs: Math.max(downA, downB) - cut,
        resumeMs: loss.firstAfterMs - cut,
        localMs: opts.localFailover ? loss.firstAfterMs - firstDown : undefined,
        reportMs: entry.atUnixMs - firstDown,
        pushMs: lastApplied - entry.atUnixMs,
        reconvMs: lastApplied - firstDown,
        flips: events.filter((e) => e.seq > entry.seq && e.action === 'link.oper' && e.subject === PRIMARY).length,
        falseDowns: this.falseDowns(marks, t0, tEnd),
        timeline: this.timeline(marks, cut),
      };
      await this.restore(ns, ifname, entry.seq);
      return figures;
    } finally {
      await ping.stop();
    }
  }

  /**
   * Link up, its route back, both ends' peer up after the hold time, the
   * controller's link.oper up and every agent in sync. Log lines first: each
   * `ctl` is a Node process whose start costs a core for a while.
   */
  private async restore(ns: string, ifname: string, afterSeq: number): Promise<void> {
    const { h, cn } = this;
    const marks = this.marks();
    await h.setLink(ns, ifname, 'up');
    // A device going down takes its routes with it: the /32 to the far end's router id.
    const r = await h.exec(ns, 'ip', ['route', 'replace', `${cn.net.endpoint(B)}/32`, 'via', this.peerAddress!, 'dev', ifname]);
    if (r.code !== 0) throw new Error(`restoring the route: ${r.stderr}`);
    await this.waitOrExplain(() => this.peerUp(A, marks) && this.peerUp(B, marks), `${PRIMARY} up at both ends`, 60_000, marks);
    await sleep(200);
    await waitFor(async () => (await this.events(afterSeq)).some((e) => e.action === 'link.oper' && e.subject === PRIMARY && / up,/.test(e.summary)), `${PRIMARY} up at the controller`, 30_000);
    await cn.waitInSync();
    this.restoredLines = this.healthLines();
  }

  /**
   * Before a cut: every tunnel up at both ends by the agents' own account,
   * and no peer state change for a second. On a busy machine a short probe
   * interval sees false detections (an agent not scheduled for longer than
   * the detection time), and a cut while the backup path is itself held
   * down measures that, not failover.
   */
  private async settle(): Promise<void> {
    for (;;) {
      let quietSince = Date.now();
      let seen = this.healthLines();
      const marks = this.marks();
      await this.waitOrExplain(() => {
        const now = this.healthLines();
        if (now !== seen || this.anyDown()) {
          seen = now;
          quietSince = Date.now();
        }
        return Date.now() - quietSince >= 1000;
      }, 'every tunnel up and quiet', 60_000, marks);
      if (this.seq !== 0 && seen === this.restoredLines) return;
      // A first run, or peers changed state since the restore: let the
      // controller catch up, then be quiet again (after the ctl processes).
      await this.cn.waitInSync();
      await this.events(this.seq);
      this.restoredLines = this.healthLines();
    }
  }

  /** healthLines() when the last restore ended. */
  private restoredLines = -1;

  /** How many health lines the agents have logged in all. */
  private healthLines(): number {
    let n = 0;
    for (const a of this.cn.agents.values()) n += a.output().match(/\[health\] peer /g)?.length ?? 0;
    return n;
  }

  /** Whether some agent's last word on some link is 'down'. */
  private anyDown(): boolean {
    for (const a of this.cn.agents.values()) {
      const last = new Map<string, string>();
      for (const m of a.output().matchAll(/\[health\] peer \S+ (up|down) link=(\S+)/g)) last.set(m[2]!, m[1]!);
      if ([...last.values()].includes('down')) return true;
    }
    return false;
  }

  /**
   * What a failed run leaves to look at, before the network is torn down:
   * each agent's liveness, recent lines and peer/drop metrics, and the cut
   * gateway's links and routes.
   */
  async diagnose(): Promise<string> {
    const { h, cn } = this;
    const out: string[] = [];
    for (const [gw, a] of cn.agents) {
      const ns = cn.net.gwNs.get(gw)!;
      const alive = a.child.exitCode === null && a.child.signalCode === null;
      const m = await h.exec(ns, 'curl', ['-s', '-m', '3', `http://${cn.net.endpoint(gw)}:9101/metrics`], 5000);
      const metrics = m.stdout.split('\n').filter((l) => /^switchback_agent_(drops_total|peer_up|health_|failovers_total|table_version)/.test(l) && !/ 0$/.test(l));
      out.push(`--- ${gw} ${alive ? 'running' : `exited (${a.child.exitCode ?? a.child.signalCode})`}`, ...a.output().split('\n').slice(-25), ...metrics);
    }
    const ns = cn.net.gwNs.get(A)!;
    for (const args of [['-br', 'link'], ['route']]) out.push(`--- ${A}: ip ${args.join(' ')}`, (await h.exec(ns, 'ip', args)).stdout);
    return out.join('\n');
  }

  /** waitFor, with the agents' lines since `marks` as they are when it times out. */
  private async waitOrExplain(cond: () => boolean, what: string, ms: number, marks: Map<string, number>): Promise<void> {
    try {
      await waitFor(cond, what, ms);
    } catch (err) {
      throw new Error(`${(err as Error).message}:\n${this.tails(marks)}`);
    }
  }

  private agent(gw: string): AgentProcess {
    return this.cn.agents.get(gw)!;
  }

  private marks(): Map<string, number> {
    return new Map([...this.cn.agents].map(([gw, a]) => [gw, a.output().length]));
  }

  private since(gw: string, marks: Map<string, number>): string {
    return this.agent(gw).output().slice(marks.get(gw) ?? 0);
  }

  /** When `gw` logged the cut link down, at or after `t0`. */
  private peerDown(gw: string, marks: Map<string, number>, t0: number): number | undefined {
    for (const m of this.since(gw, marks).matchAll(new RegExp(`^(\\S+) INFO\\s+\\[health\\] peer \\S+ down link=${PRIMARY}\\b`, 'gm'))) {
      const t = Date.parse(m[1]!);
      if (t >= t0) return t;
    }
    return undefined;
  }

  /** Peer-down lines up to `tEnd` (the ping's end) that the cut at `t0` did not cause. */
  private falseDowns(marks: Map<string, number>, t0: number, tEnd: number): number {
    let n = 0;
    for (const gw of this.cn.agents.keys()) {
      for (const m of this.since(gw, marks).matchAll(/^(\S+) INFO\s+\[health\] peer \S+ down link=(\S+)/gm)) {
        const t = Date.parse(m[1]!);
        if (t <= tEnd && (m[2] !== PRIMARY || t < t0)) n++;
      }
    }
    return n;
  }

  private timeline(marks: Map<string, number>, cut: number): string[] {
    const rows: [number, string][] = [];
    for (const gw of this.cn.agents.keys()) {
      for (const m of this.since(gw, marks).matchAll(/^(\S+) (INFO|WARN|ERROR)\s+\[(\w+)\] (.*)$/gm)) {
        rows.push([Date.parse(m[1]!) - cut, `${gw} ${m[2]} [${m[3]}] ${m[4]}`]);
      }
    }
    return rows.sort((a, b) => a[0] - b[0]).map(([t, l]) => `${t >= 0 ? '+' : ''}${t} ${l}`);
  }

  private peerUp(gw: string, marks: Map<string, number>): boolean {
    return new RegExp(`\\[health\\] peer \\S+ up link=${PRIMARY}\\b`).test(this.since(gw, marks));
  }

  /** Whether `gw` applied a table at or after `t0`. */
  private appliedAfter(gw: string, marks: Map<string, number>, t0: number): boolean {
    for (const m of this.since(gw, marks).matchAll(/^(\S+) INFO\s+\[agent\] table applied version=/gm)) {
      if (Date.parse(m[1]!) >= t0) return true;
    }
    return false;
  }

  /** When `gw` applied `version` or a newer one (updates to a busy agent are coalesced). */
  private appliedAt(gw: string, version: number, marks: Map<string, number>): number | undefined {
    for (const m of this.since(gw, marks).matchAll(/^(\S+) INFO\s+\[agent\] table applied version=(\d+)/gm)) {
      if (Number(m[2]) >= version) return Date.parse(m[1]!);
    }
    return undefined;
  }

  /** Whether a ping sent after `t` got lost (the cut took effect). */
  private lostSince(ping: PingSeries, t: number): boolean {
    const l = ping.loss();
    return l.lost > 0 && (l.firstAfterMs ?? 0) > t;
  }

  private tails(marks: Map<string, number>): string {
    return [...this.cn.agents.keys()].map((gw) => `--- ${gw}\n${this.since(gw, marks).slice(-2000)}`).join('\n');
  }

  private async events(after: number): Promise<JournalRow[]> {
    const r = await this.cn.ctl('--json', 'events', '--after', String(after), '--limit', '1000');
    if (r.code !== 0) throw new Error(`ctl events: ${r.stderr}`);
    const rows = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JournalRow);
    this.seq = Math.max(this.seq, rows.at(-1)?.seq ?? 0);
    return rows;
  }

  private async address(ns: string, ifname: string): Promise<string> {
    const r = await this.h.exec(ns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', ifname]);
    const a = (JSON.parse(r.stdout) as { addr_info: { local: string }[] }[])[0]?.addr_info[0]?.local;
    if (!a) throw new Error(`no IPv4 address on ${ifname} in ${ns}`);
    return a;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
