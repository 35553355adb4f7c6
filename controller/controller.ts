// The controller service: the one place that changes the network's state.
// Every change follows the same path: build the new model, validate it,
// recompute routes (pure), keep only the tables whose content changed, and
// commit model + tables + journal entry in one store transaction. Adapters
// (admin API, southbound sessions) call in here and listen to its events.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../common/clock.js';
import { notFound, precondition, invalid } from '../common/errors.js';
import { diffTables, tableHash } from '../common/flow-table.js';
import { AdminState, OperState, type FlowRule, type FlowTable, type TableDelta, type Gateway, type Link, type Peer, type Prefix, type Site, type Topology } from '../common/model.js';
import type { Route, TableState } from '../proto/gen/switchback/v1/admin.js';
import { DEFAULT_COST_POLICY, nextCost, type CostPolicy } from './routing/link-cost.js';
import { changedRules, computeRoutingState, recomputeAfterLinkChange, ruleKey, type GatewayRoutes, type RoutingOptions, type RoutingState } from './routing/index.js';
import { encodeSnapshotParts } from '../common/table-codec.js';
import { encodeContent, patchContent, ruleSegments, tableBytes, tableParts, type EncodedTable } from './table-encodings.js';
import { canonicalTopology, patchLinkState, type LinkStatePatch } from './topology/topology-check.js';
import { checkTopology, diffTopology, mergeOperational, withDefaults, type TopologyChange } from './topology/topology-diff.js';
import { EventHub, type Listener } from './events.js';
import type { JournalEntry, LinkKey, Store } from './store/store.js';

export interface ControllerOptions {
  store: Store;
  clock: Clock;
  routing?: RoutingOptions;
  /** Whether and how measured RTT moves link costs (default: it does not). */
  costPolicy?: CostPolicy;
}

interface StoredTableInfo {
  hash: Buffer;
  version: number;
  epoch: number;
  ruleCount: number;
}

export interface ChangeResult {
  changes: TopologyChange[];
  /** Undefined when nothing changed (nothing is journaled then). */
  entry?: JournalEntry;
}

export interface LinkReportInput {
  gatewayId: string;
  linkId: string;
  state: OperState;
  rttUs?: number;
  lossPpm?: number;
}

export class Controller {
  readonly store: Store;
  private readonly clock: Clock;
  private readonly routingOptions?: RoutingOptions;
  private readonly costPolicy: CostPolicy;
  /** Costs derived from measured RTT that differ from the configured ones. */
  private costOverrides: ReadonlyMap<string, number>;
  /** The operational state each end of a link last reported (not persisted: ends re-report on reconnect). */
  private readonly endStates = new Map<string, Map<string, OperState>>();
  private readonly hub = new EventHub();
  /** The routing of the stored model (kept for incremental recomputes). */
  private state: RoutingState | undefined;
  /** What is known of each stored table (content hash, version, size), kept in step with commits. */
  private stored: Map<string, StoredTableInfo> | undefined;
  private canonicalCache: { stored: Topology; canonical: Topology; json?: string } | undefined;
  /** The encoding of stored tables this controller built or checked (table-encodings.ts). */
  private readonly encoded = new Map<string, EncodedTable>();

  constructor(opts: ControllerOptions) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.routingOptions = opts.routing;
    this.costPolicy = opts.costPolicy ?? DEFAULT_COST_POLICY;
    this.costOverrides = new Map(
      this.costPolicy.rttCost
        ? [...this.store.linkStats()].filter(([, s]) => s.effectiveCost !== undefined).map(([id, s]) => [id, s.effectiveCost!])
        : [],
    );
    // Tables must match the model even if the routing code changed since
    // the last run (an upgrade): recompute once and commit what differs.
    this.change('controller', 'routes.recompute', 'controller', `tables recomputed at start of epoch ${this.store.epoch}`, (t) => t);
  }

  get epoch(): number {
    return this.store.epoch;
  }

  on(l: Listener): () => void {
    return this.hub.on(l);
  }

  emit(e: Parameters<Listener>[0]): void {
    this.hub.emit(e);
  }

  topology(): Topology {
    return this.store.topology();
  }

  /** Makes the stored model exactly `desired` (operational state kept). */
  applyTopology(desired: Topology, actor: string, dryRun = false): ChangeResult {
    const current = this.store.topology();
    const merged = mergeOperational(current, desired);
    const changes = diffTopology(current, merged);
    if (dryRun || changes.length === 0) {
      checkTopology(merged);
      return { changes };
    }
    const summary = `applied topology: ${changes.length} change${changes.length === 1 ? '' : 's'}`;
    const entry = this.change(actor, 'topology.apply', 'topology', summary, () => merged);
    return { changes, entry };
  }

  putSite(site: Site, actor: string): JournalEntry {
    return this.upsert(actor, 'site', site.id, (t) => ({ ...t, sites: replaceById(t.sites, site) }));
  }

  deleteSite(id: string, actor: string): JournalEntry {
    const t = this.store.topology();
    if (!t.sites.some((s) => s.id === id)) throw notFound('site', id);
    if (t.gateways.some((g) => g.siteId === id)) throw precondition(`site '${id}' still has gateways; delete them first`);
    return this.change(actor, 'site.delete', id, `deleted site ${id}`, (m) => ({
      ...m,
      sites: m.sites.filter((s) => s.id !== id),
      prefixes: m.prefixes.filter((p) => p.siteId !== id),
    }));
  }

  putGateway(gw: Gateway, actor: string): JournalEntry {
    return this.upsert(actor, 'gateway', gw.id, (m) => ({ ...m, gateways: replaceById(m.gateways, gw) }));
  }

  deleteGateway(id: string, actor: string): JournalEntry {
    const t = this.store.topology();
    if (!t.gateways.some((g) => g.id === id)) throw notFound('gateway', id);
    if (t.links.some((l) => l.a === id || l.b === id)) throw precondition(`gateway '${id}' still has links; delete them first`);
    return this.change(actor, 'gateway.delete', id, `deleted gateway ${id}`, (m) => ({ ...m, gateways: m.gateways.filter((g) => g.id !== id) }));
  }

  putLink(link: Link, actor: string): JournalEntry {
    const t = this.store.topology();
    const existing = t.links.find((l) => l.id === link.id);
    // Operational state belongs to the agents' reports, not to the request.
    const l: Link = {
      ...link,
      adminState: link.adminState || existing?.adminState || AdminState.UP,
      operState: existing?.operState ?? OperState.UNSPECIFIED,
      rttUs: existing?.rttUs ?? 0,
      lossPpm: existing?.lossPpm ?? 0,
      changedUnixMs: existing?.changedUnixMs ?? 0,
    };
    return this.upsert(actor, 'link', l.id, (m) => ({ ...m, links: replaceById(m.links, l) }));
  }

  deleteLink(id: string, actor: string): JournalEntry {
    if (!this.store.topology().links.some((l) => l.id === id)) throw notFound('link', id);
    return this.change(actor, 'link.delete', id, `deleted link ${id}`, (m) => ({ ...m, links: m.links.filter((l) => l.id !== id) }));
  }

  putPrefix(p: Prefix, actor: string): JournalEntry {
    const same = (x: Prefix) => x.siteId === p.siteId && x.vrf === p.vrf && x.cidr === p.cidr;
    return this.change(actor, 'prefix.put', `${p.siteId}:${p.vrf}:${p.cidr}`, `announced ${p.cidr} (vrf ${p.vrf}) from ${p.siteId}`, (m) => ({
      ...m,
      prefixes: [...m.prefixes.filter((x) => !same(x)), p],
    }));
  }

  deletePrefix(p: Prefix, actor: string): JournalEntry {
    const same = (x: Prefix) => x.siteId === p.siteId && x.vrf === p.vrf && x.cidr === p.cidr;
    if (!this.store.topology().prefixes.some(same)) throw notFound('prefix', `${p.siteId}:${p.vrf}:${p.cidr}`);
    return this.change(actor, 'prefix.delete', `${p.siteId}:${p.vrf}:${p.cidr}`, `withdrew ${p.cidr} (vrf ${p.vrf}) from ${p.siteId}`, (m) => ({
      ...m,
      prefixes: m.prefixes.filter((x) => !same(x)),
    }));
  }

  drainLink(id: string, actor: string, reason = ''): JournalEntry {
    const link = this.findLink(id);
    if (link.adminState === AdminState.DRAINED) throw precondition(`link '${id}' is already drained`);
    const why = reason ? ` (${reason})` : '';
    return this.setLink(id, actor, 'link.drain', `drained link ${id}${why}`, { adminState: AdminState.DRAINED, changedUnixMs: this.clock.wallMs() });
  }

  undrainLink(id: string, actor: string): JournalEntry {
    const link = this.findLink(id);
    if (link.adminState !== AdminState.DRAINED) throw precondition(`link '${id}' is not drained`);
    return this.setLink(id, actor, 'link.undrain', `undrained link ${id}`, { adminState: AdminState.UP, changedUnixMs: this.clock.wallMs() });
  }

  /**
   * A gateway's view of one of its tunnels. A change of operational state is
   * a journaled change that moves routes; RTT and loss are kept as figures.
   */
  reportLink(r: LinkReportInput): JournalEntry | undefined {
    const link = this.findLink(r.linkId);
    if (link.a !== r.gatewayId && link.b !== r.gatewayId) {
      throw invalid('linkId', `gateway '${r.gatewayId}' is not an end of link '${r.linkId}'`);
    }
    const now = this.clock.wallMs();
    let costEntry: JournalEntry | undefined;
    if (r.rttUs !== undefined || r.lossPpm !== undefined) {
      const current = this.costOverrides.get(link.id) ?? link.cost;
      const next = r.rttUs ? nextCost(link.cost, current, r.rttUs, this.costPolicy) : current;
      this.store.setLinkStats(r.linkId, { rttUs: r.rttUs ?? 0, lossPpm: r.lossPpm ?? 0, atMs: now, ...(next !== link.cost ? { effectiveCost: next } : {}) });
      if (next !== current) costEntry = this.setEffectiveCost(link, current, next, r);
    }
    if (r.state === OperState.UNSPECIFIED) return costEntry;
    // Each end reports its own view; the link is down while either end says
    // so. Otherwise the end that has not noticed a cut yet would, with its
    // periodic report, put the dead link back into the routes.
    const ends = new Map(this.endStates.get(link.id) ?? []);
    ends.set(r.gatewayId, r.state);
    this.endStates.set(link.id, ends);
    const state = [...ends.values()].includes(OperState.DOWN) ? OperState.DOWN : OperState.UP;
    if (state === link.operState) return costEntry;
    const word = state === OperState.DOWN ? 'down' : 'up';
    return this.setLink(r.linkId, `agent:${r.gatewayId}`, 'link.oper', `link ${link.a}-${link.b} ${word}, reported by ${r.gatewayId}`, {
      operState: state,
      rttUs: r.rttUs ?? link.rttUs,
      lossPpm: r.lossPpm ?? link.lossPpm,
      changedUnixMs: now,
    });
  }

  /**
   * A measured RTT moved the link's cost past the hysteresis threshold:
   * recompute with the new cost (journaled with the figure that caused it).
   */
  private setEffectiveCost(link: Link, from: number, to: number, r: LinkReportInput): JournalEntry {
    const previous = this.costOverrides;
    const overrides = new Map(previous);
    if (to === link.cost) overrides.delete(link.id);
    else overrides.set(link.id, to);
    this.costOverrides = overrides;
    try {
      const rtt = ((r.rttUs ?? 0) / 1000).toFixed(1);
      return this.change(`agent:${r.gatewayId}`, 'link.cost', link.id, `link ${link.a}-${link.b} cost ${from} -> ${to} (RTT ${rtt} ms), reported by ${r.gatewayId}`, (t) => t);
    } catch (err) {
      this.costOverrides = previous;
      throw err;
    }
  }

  /** Links with their latest measured RTT and loss, and the cost routing uses. */
  links(): (Link & { effectiveCost: number })[] {
    const stats = this.store.linkStats();
    return this.store.topology().links.map((l) => {
      const s = stats.get(l.id);
      return { ...l, rttUs: s?.rttUs ?? l.rttUs, lossPpm: s?.lossPpm ?? l.lossPpm, effectiveCost: this.costOverrides.get(l.id) ?? l.cost };
    });
  }

  /** Primary and backup paths with costs for every rule of a gateway. */
  routesOf(gatewayId: string): { version: number; routes: Route[] } {
    const gr = this.currentRoutes().get(gatewayId);
    const table = this.store.table(gatewayId);
    if (!gr || !table) throw notFound('gateway', gatewayId);
    const vrfNames = new Map(this.store.topology().vrfs.map((v) => [v.id, v.name]));
    const routes = table.rules.map((rule) => {
      const p = gr.paths.get(ruleKey(rule.vrf, rule.prefix));
      return { rule, primaryPaths: p?.primary ?? [], backupPath: p?.backup, vrfName: vrfNames.get(rule.vrf) ?? String(rule.vrf) };
    });
    return { version: table.version, routes };
  }

  /** Every gateway's table version and acknowledged version, without reading the tables themselves. */
  tableStates(): TableState[] {
    const acks = this.store.acks();
    return [...this.storedTables()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([gatewayId, t]) => {
        const a = acks.get(gatewayId);
        return { gatewayId, version: t.version, ackedVersion: a?.version ?? 0, ackedUnixMs: a?.atMs ?? 0, ruleCount: t.ruleCount };
      });
  }

  /** Records an agent's acknowledgement of a table version. */
  recordAck(gatewayId: string, version: number, transport: string): void {
    this.store.setAck(gatewayId, { version, atMs: this.clock.wallMs(), transport });
    this.hub.emit({ type: 'ack', gatewayId, version, transport });
  }

  /**
   * Commits new key states of links (controller/link-keys decides them): one
   * journaled change whose tables carry the keys to the links' ends.
   */
  commitLinkKeys(actor: string, action: string, subject: string, summary: string, keys: ReadonlyMap<string, LinkKey>): JournalEntry {
    return this.change(actor, action, subject, summary, (t) => t, keys);
  }

  /**
   * Journals an action that changes no model or table (a certificate
   * issued or revoked), so the audit log holds it with its actor.
   */
  audit(actor: string, action: string, subject: string, summary: string): JournalEntry {
    const entry = this.store.commit({ actor, action, subject, summary, atMs: this.clock.wallMs() });
    this.hub.emit({ type: 'journal', entry });
    return entry;
  }

  private findLink(id: string): Link {
    const link = this.store.topology().links.find((l) => l.id === id);
    if (!link) throw notFound('link', id);
    return link;
  }

  /** A change of one link's state: only that link is checked (topology-check patchLinkState). */
  private setLink(id: string, actor: string, action: string, summary: string, patch: LinkStatePatch): JournalEntry {
    return this.change(actor, action, id, summary, { checked: (m) => patchLinkState(m, id, patch) });
  }

  private upsert(actor: string, kind: 'site' | 'gateway' | 'link', id: string, mutate: (t: Topology) => Topology): JournalEntry {
    const t = this.store.topology();
    const exists = { site: t.sites, gateway: t.gateways, link: t.links }[kind].some((x) => x.id === id);
    return this.change(actor, `${kind}.put`, id, `${exists ? 'updated' : 'created'} ${kind} ${id}`, mutate);
  }

  private currentRoutes(): ReadonlyMap<string, GatewayRoutes> {
    return (this.state ??= computeRoutingState(this.store.topology(), this.routingOpts())).routes;
  }

  /**
   * The one write path. `mutate` gets the current model and returns the new
   * one; nothing is written when validation fails.
   */
  private change(
    actor: string,
    action: string,
    subject: string,
    summary: string,
    /** Returns the new model, or (`checked`) the new model already checked and canonical, `before` itself when unchanged. */
    mutate: ((t: Topology) => Topology) | { checked: (t: Topology) => Topology },
    /** New states of existing links' keys (rotation, controller/link-keys). */
    keyUpdates?: ReadonlyMap<string, LinkKey>,
  ): JournalEntry {
    const cached = this.canonicalStored();
    const before = cached.canonical;
    let next: Topology;
    let modelChanged: boolean;
    if (typeof mutate === 'function') {
      // Defaults fill what an admin request may leave out (node id, admin
      // state, MTU); the check returns the canonical, frozen model or throws.
      next = checkTopology(withDefaults(mutate(before), before));
      modelChanged = JSON.stringify(next) !== (cached.json ??= JSON.stringify(before));
    } else {
      next = mutate.checked(before);
      modelChanged = next !== before;
    }

    const keys = this.store.linkKeys();
    // The keys the stored tables were built with (this change may replace some).
    const oldKeys = new Map(keys);
    const newKeys = new Map<string, LinkKey>([...(keyUpdates ?? [])].filter(([id]) => next.links.some((l) => l.id === id)));
    for (const [id, k] of newKeys) keys.set(id, k);
    for (const l of next.links) {
      if (!keys.has(l.id)) {
        const k = { key: randomBytes(32), keyId: 1, createdMs: this.clock.wallMs() };
        keys.set(l.id, k);
        newKeys.set(l.id, k);
      }
    }
    const linkIds = new Set(next.links.map((l) => l.id));
    const removedKeys = [...keys.keys()].filter((id) => !linkIds.has(id));

    // Incremental when only links changed (routing decides), and only the
    // tables routing reports as changed are rebuilt and hashed: one link
    // change at 1,000 gateways touches a handful of tables, not all.
    const opts = this.routingOpts();
    const computeStart = this.clock.now();
    const state = this.state && this.state.options.costOverrides === opts.costOverrides
      ? recomputeAfterLinkChange(this.state, next, undefined, opts)
      : computeRoutingState(next, opts);
    const routes = state.routes;
    const candidates = new Set(this.state ? state.changedGateways : routes.keys());
    for (const id of newKeys.keys()) {
      const l = next.links.find((x) => x.id === id)!;
      candidates.add(l.a).add(l.b);
    }
    const changedTables = new Map<string, FlowTable>();
    const built = new Map<string, { enc: EncodedTable; delta?: TableDelta }>();
    for (const gw of candidates) {
      const r = routes.get(gw);
      if (!r) continue;
      const peers = r.peers.map((p) => withKey(p, keys.get(p.linkId)));
      const stored = this.storedTables().get(gw);
      // The usual case: the kept bytes are the stored table and routing
      // says which of its rules moved; only those are built and encoded.
      // (The kept bytes are the table of this.state: both move together at
      // every commit, and a gateway routing leaves alone keeps its table.)
      const base = this.encoded.get(gw);
      const moved = this.state && base && stored && base.version === stored.version && base.nodeId === r.nodeId ? changedRules(this.state, state, gw) : undefined;
      const next = moved ? patchContent(base!, moved.indices, moved.rules, peers) : { enc: encodeContent({ gatewayId: gw, nodeId: r.nodeId, version: 0, epoch: 0, rules: r.rules, peers }) };
      if (stored?.hash.equals(next.enc.hash)) {
        if (base?.version !== stored.version) this.encoded.set(gw, { ...next.enc, version: stored.version });
        continue;
      }
      built.set(gw, next);
      changedTables.set(gw, lazyContent(gw, r, peers));
    }
    const removedTables = [...this.storedTables().keys()].filter((gw) => !routes.has(gw));
    this.hub.emit({ type: 'computed', ms: this.clock.now() - computeStart, tables: changedTables.size + removedTables.length });
    // Deltas for the tables built whole (no kept bytes, or a full routing computation).
    const bases = this.deltaBases(new Map([...changedTables].filter(([gw]) => !built.get(gw)!.delta)), oldKeys);
    for (const [gw, base] of bases) {
      const b = built.get(gw)!;
      // A gateway whose node id changed gets a snapshot, never a delta.
      if (base.nodeId === b.enc.nodeId) b.delta = diffTables(base, { ...changedTables.get(gw)!, version: 0, epoch: 0 }, b.enc.hash);
    }

    const nothing = !modelChanged && changedTables.size === 0 && removedTables.length === 0 && newKeys.size === 0 && removedKeys.length === 0;
    if (nothing) {
      // A request that changes nothing is not journaled: the journal is the
      // history of the network, not of requests.
      this.state = state;
      return this.store.journal(this.store.lastSeq() - 1, 1)[0] ?? { seq: 0, atUnixMs: 0, actor, action, subject, summary, tables: [] };
    }
    const deltas = new Map<string, TableDelta>();
    for (const [gw, b] of built) if (b.delta) deltas.set(gw, b.delta);
    const entry = this.store.commit({
      actor,
      action,
      subject,
      summary,
      atMs: this.clock.wallMs(),
      topology: modelChanged ? next : undefined,
      tables: changedTables,
      encodedTables: new Map([...built].map(([gw, b]) => [gw, { nodeId: b.enc.nodeId, rules: ruleSegments(b.enc.rules), peers: b.enc.peersBytes }])),
      deltas,
      removedTables,
      keys: newKeys,
      removedKeys,
    });
    this.state = state;
    // The committed model is `next` (canonical): the next change starts from it.
    if (modelChanged) this.canonicalCache = { stored: this.store.topology(), canonical: next };
    for (const [gw, b] of built) {
      this.stored!.set(gw, { hash: b.enc.hash, ruleCount: b.enc.ruleCount, version: entry.seq, epoch: this.store.epoch });
      this.encoded.set(gw, { ...b.enc, version: entry.seq });
    }
    for (const gw of removedTables) {
      this.stored!.delete(gw);
      this.encoded.delete(gw);
    }
    // The new tables go with the event: sessions push them without reading
    // and decoding them back from the store (70 KB each in a large fleet).
    // With each, the delta from the version stored before (what agents in
    // sync hold), so that sessions do not decode that base from the store.
    // The tables' rules are built only if a listener reads them (a snapshot).
    const tables = new Map<string, { table: FlowTable; hash: Buffer; delta?: TableDelta }>();
    for (const [gw, content] of changedTables) {
      const { enc, delta } = built.get(gw)!;
      const table = withVersion(content, entry.seq, this.store.epoch);
      tables.set(gw, { table, hash: enc.hash, delta: delta && { ...delta, version: entry.seq, epoch: this.store.epoch } });
    }
    this.hub.emit({ type: 'journal', entry, tables, removedTables });
    return entry;
  }

  /**
   * The stored bytes and hash of a gateway's current table, when this
   * controller built or checked them (no store read, no decoding).
   */
  encodedTable(gatewayId: string): { version: number; hash: Buffer; bytes: () => Buffer; snapshot: () => Buffer } | undefined {
    const e = this.encoded.get(gatewayId);
    const stored = this.storedTables().get(gatewayId);
    if (!e || !stored || e.version !== stored.version) return undefined;
    return {
      version: e.version,
      hash: e.hash,
      bytes: () => tableBytes(e, e.version, stored.epoch),
      snapshot: () => encodeSnapshotParts(tableParts(e, e.version, stored.epoch), e.hash),
    };
  }

  /**
   * For each changed gateway, its previous table rebuilt from the previous
   * routing state (`this.state`, still in memory) with the keys it was
   * built with, versioned as stored: the base of a delta without decoding
   * it from the store. Offered only when its content hash equals the stored
   * one, so it IS the stored previous version whatever path led here
   * (restart with other cost overrides, a change that committed nothing,
   * keys rotated in this commit): a mismatch just means no delta is offered.
   */
  private deltaBases(changed: ReadonlyMap<string, FlowTable>, oldKeys: ReadonlyMap<string, LinkKey>): Map<string, FlowTable> {
    const bases = new Map<string, FlowTable>();
    if (!this.state) return bases;
    for (const gw of changed.keys()) {
      const r = this.state.routes.get(gw);
      const stored = this.storedTables().get(gw);
      if (!r || !stored) continue;
      const prev: FlowTable = {
        gatewayId: gw,
        nodeId: r.nodeId,
        version: stored.version,
        epoch: this.store.epoch,
        rules: r.rules,
        peers: r.peers.map((p) => withKey(p, oldKeys.get(p.linkId))),
      };
      if (tableHash(prev).equals(stored.hash)) bases.set(gw, prev);
    }
    return bases;
  }

  /**
   * The stored model in canonical form (and its JSON, filled in by the
   * first change that compares whole models), worked out once per model the
   * store returns (it returns the same frozen object until a commit changes
   * the model; a commit here sets it to the model it committed): every
   * change starts from it.
   */
  private canonicalStored(): { canonical: Topology; json?: string } {
    const stored = this.store.topology();
    if (this.canonicalCache?.stored !== stored) this.canonicalCache = { stored, canonical: canonicalTopology(stored) };
    return this.canonicalCache;
  }

  private routingOpts(): RoutingOptions {
    return { ...this.routingOptions, costOverrides: this.costOverrides };
  }

  /** The stored tables' hashes, versions and sizes: read from the store once, then kept in step with commits. */
  private storedTables(): Map<string, StoredTableInfo> {
    this.stored ??= new Map(this.store.tables().map((t) => [t.gatewayId, { hash: tableHash(t), version: t.version, epoch: t.epoch, ruleCount: t.rules.length }]));
    return this.stored;
  }
}

function withKey<P extends { linkId: string }>(p: P, k: LinkKey | undefined): P {
  if (!k) return p;
  return {
    ...p,
    key: k.key,
    keyId: k.keyId,
    previousKey: k.previousKey ?? Buffer.alloc(0),
    previousKeyId: k.previousKeyId ?? 0,
    nextKey: k.nextKey ?? Buffer.alloc(0),
    nextKeyId: k.nextKeyId ?? 0,
  };
}

/**
 * A changed table's content whose rules are built from the routing state
 * only when read (a snapshot, a store that keeps objects): the usual push is
 * a delta, and 1,000 tables of 1,000 rule objects are not built for it.
 */
function lazyContent(gatewayId: string, r: GatewayRoutes, peers: Peer[]): FlowTable {
  return withVersion({ gatewayId, nodeId: r.nodeId, version: 0, epoch: 0, rules: [], peers }, 0, 0, r);
}

const RULES_FROM = Symbol('rules from');

/** One getter for every lazy table (a closure per table costs more than the table). */
function lazyRules(this: { [RULES_FROM]: { rules: FlowRule[] } }): FlowRule[] {
  return this[RULES_FROM].rules;
}

function withVersion(t: FlowTable, version: number, epoch: number, routes?: GatewayRoutes): FlowTable {
  const out = { gatewayId: t.gatewayId, nodeId: t.nodeId, version, epoch, peers: t.peers } as FlowTable;
  Object.defineProperty(out, RULES_FROM, { value: routes ?? t });
  // Enumerable, so that a spread copies the rules (and builds them then).
  Object.defineProperty(out, 'rules', { enumerable: true, get: lazyRules });
  return out;
}

function replaceById<T extends { id: string }>(items: readonly T[], item: T): T[] {
  const out = items.filter((x) => x.id !== item.id);
  out.push(item);
  return out;
}
