// A datacenter gateway serving two VRFs through two access ports, with
// tables from the real controller: the offices Berlin (corp) and Rotterdam
// (acquired) share 192.168.1.0/24; each reaches its own VRF's service at the
// datacenter, packets come back to the office they came from, and the
// kernel routes of the two ports never put one VRF's prefix in the other's
// routing table.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ManualClock } from '../../common/clock.js';
import { SiteKind, type FlowTable, type Topology } from '../../common/model.js';
import { Controller } from '../../controller/controller.js';
import { MemoryStore } from '../../controller/store/memory-store.js';
import { Agent } from '../../router-agent/agent.js';
import type { AccessPort } from '../../router-agent/io/access-port.js';
import { MemoryHub } from '../../router-agent/io/memory-underlay.js';
import { ipv4 } from '../dataplane/build-packets.js';

/** An access port in memory: what the agent wrote, and a way to feed it packets. */
class MemoryPort implements AccessPort {
  readonly written: Uint8Array[] = [];
  routes: string[] = [];
  closed = false;
  private cb: ((p: Uint8Array) => void) | undefined;
  constructor(
    readonly name: string,
    readonly routeTable?: number,
  ) {}
  onPacket(cb: (p: Uint8Array) => void): void {
    this.cb = cb;
  }
  inject(p: Uint8Array): void {
    this.cb?.(p);
  }
  send(p: Uint8Array): void {
    this.written.push(Uint8Array.from(p));
  }
  async setRoutes(prefixes: readonly string[]): Promise<void> {
    this.routes = [...prefixes];
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const gw = (id: string, site: string, n: number) => ({ id, siteId: site, nodeId: n, endpoints: [{ host: `192.0.2.${n}`, port: 4789 }], underlayMtu: 1500, lastSeenUnixMs: 0 });
const link = (a: string, b: string) => ({ id: `${a}--${b}`, a, b, cost: 10, capacityMbps: 100, mtu: 1500, srlgs: [], adminState: 1, operState: 0, rttUs: 0, lossPpm: 0, changedUnixMs: 0 });
const topology: Topology = {
  vrfs: [
    { name: 'corp', id: 1 },
    { name: 'acquired', id: 2 },
  ],
  sites: [
    { id: 'ams', name: 'dc', kind: SiteKind.DATACENTER, region: 'eu' },
    { id: 'ber', name: 'berlin', kind: SiteKind.OFFICE, region: 'eu' },
    { id: 'rtm', name: 'rotterdam', kind: SiteKind.OFFICE, region: 'eu' },
  ],
  gateways: [gw('ams1', 'ams', 1), gw('ber1', 'ber', 2), gw('rtm1', 'rtm', 3)],
  links: [link('ams1', 'ber1'), link('ams1', 'rtm1')],
  prefixes: [
    { siteId: 'ams', vrf: 'corp', cidr: '10.20.0.0/16' },
    { siteId: 'ams', vrf: 'acquired', cidr: '172.20.0.0/16' },
    { siteId: 'ber', vrf: 'corp', cidr: '192.168.1.0/24' },
    { siteId: 'rtm', vrf: 'acquired', cidr: '192.168.1.0/24' },
  ],
};

function setup(acquiredTable?: number) {
  const clock = new ManualClock(0, 1_800_000_000_000);
  const ctl = new Controller({ store: new MemoryStore(), clock });
  ctl.applyTopology(topology, 'test');
  const tables = new Map<string, FlowTable>(ctl.store.tables().map((t) => [t.gatewayId, t]));
  const hub = new MemoryHub({ schedule: (fn) => fn() });
  const ports = {
    amsCorp: new MemoryPort('sb0'),
    amsAcquired: new MemoryPort('sb1', acquiredTable),
    ber: new MemoryPort('sb0'),
    rtm: new MemoryPort('sb0'),
  };
  const underlay = (id: string) => hub.open(topology.gateways.find((g) => g.id === id)!.endpoints[0]!);
  const agents = {
    ams: new Agent({ gatewayId: 'ams1', clock, underlay: underlay('ams1'), tun: ports.amsCorp, vrfTuns: new Map([[2, ports.amsAcquired]]) }),
    ber: new Agent({ gatewayId: 'ber1', clock, underlay: underlay('ber1'), tun: ports.ber }),
    rtm: new Agent({ gatewayId: 'rtm1', clock, underlay: underlay('rtm1'), tun: ports.rtm }),
  };
  for (const [id, a] of [['ams1', agents.ams], ['ber1', agents.ber], ['rtm1', agents.rtm]] as const) assert.ok(a.applyTable(tables.get(id)!), id);
  return { ports, agents };
}

const dst = (p: Uint8Array) => Array.from(p.subarray(16, 20)).join('.');
const settle = () => new Promise((r) => setImmediate(r));

const t = suite('agent: access ports in several VRFs');

t('each office reaches its own VRF at the datacenter, and the answer returns to it', () => {
  const { ports, agents } = setup(102);
  assert.equal(agents.ams.dataPlane!.accessVrfs, [1, 2], 'the main port takes corp, the first VRF without a port of its own');
  ports.rtm.inject(ipv4({ src: '192.168.1.1', dst: '172.20.0.1', payload: new Uint8Array(8) }));
  ports.ber.inject(ipv4({ src: '192.168.1.1', dst: '10.20.0.1', payload: new Uint8Array(8) }));
  assert.equal(ports.amsAcquired.written.map(dst), ['172.20.0.1']);
  assert.equal(ports.amsCorp.written.map(dst), ['10.20.0.1']);
  // The acquired service answers 192.168.1.1: Rotterdam's, not Berlin's.
  ports.amsAcquired.inject(ipv4({ src: '172.20.0.1', dst: '192.168.1.1', payload: new Uint8Array(8) }));
  assert.equal(ports.rtm.written.map(dst), ['192.168.1.1']);
  assert.equal(ports.ber.written, []);
  ports.amsCorp.inject(ipv4({ src: '10.20.0.1', dst: '192.168.1.1', payload: new Uint8Array(8) }));
  assert.equal(ports.ber.written.map(dst), ['192.168.1.1']);
  assert.equal(ports.rtm.written.length, 1);
});

t('Berlin (corp) does not reach the acquired service', () => {
  const { ports, agents } = setup(102);
  ports.ber.inject(ipv4({ src: '192.168.1.1', dst: '172.20.0.1', payload: new Uint8Array(8) }));
  assert.equal(ports.amsAcquired.written, []);
  assert.is(agents.ber.snapshot()!.drops.no_route, 1);
});

t('each port routes its own VRF\'s remote prefixes; one kernel table never holds both VRFs\' 192.168.1.0/24', async () => {
  const own = setup(102);
  await settle();
  assert.equal(own.ports.amsCorp.routes, ['192.168.1.0/24']);
  assert.equal(own.ports.amsAcquired.routes, ['192.168.1.0/24'], 'its own table 102');
  const shared = setup(undefined);
  await settle();
  assert.equal(shared.ports.amsCorp.routes, ['192.168.1.0/24']);
  assert.equal(shared.ports.amsAcquired.routes, [], 'the clash in the main table is not routed into the acquired port');
});

t('closing the agent closes every port; a VRF cannot have two ports', async () => {
  const { ports, agents } = setup(102);
  await agents.ams.close();
  assert.ok(ports.amsCorp.closed && ports.amsAcquired.closed);
  const hub = new MemoryHub();
  assert.throws(
    () => new Agent({ gatewayId: 'x', clock: new ManualClock(0, 0), underlay: hub.open({ host: '192.0.2.9', port: 1 }), tun: new MemoryPort('a'), accessVrf: 2, vrfTuns: new Map([[2, new MemoryPort('b')]]) }),
    /VRF 2 is the access VRF/,
  );
});

t.run();
