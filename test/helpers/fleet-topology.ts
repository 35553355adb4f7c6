// A generated fleet for southbound tests and benchmarks: two datacenters
// (dc-a, dc-b, linked) and `offices` branch offices, each with one gateway,
// one /24 and a link to both datacenters (cheaper to dc-a). Offices reach
// dc-b through dc-a (10 + 5 < 20); draining dc-a--dc-b sends them direct,
// so that one change moves a next hop in every gateway's table.

/** The link whose drain changes every table of the fleet. */
export const FLEET_WIDE_LINK = 'dc-a--dc-b';
import { AdminState, OperState, SiteKind, type Link, type Topology } from '../../common/model.js';

export const officeId = (i: number) => `o${String(i).padStart(4, '0')}`;

const link = (a: string, b: string, cost: number): Link => ({
  id: `${a}--${b}`, a, b, cost, capacityMbps: 1000, mtu: 1500, srlgs: [],
  adminState: AdminState.UP, operState: OperState.UNSPECIFIED, rttUs: 0, lossPpm: 0, changedUnixMs: 0,
});

export function fleetTopology(offices: number): Topology {
  const dcs = ['dc-a', 'dc-b'];
  const offs = Array.from({ length: offices }, (_, i) => officeId(i + 1));
  const all = [...dcs, ...offs];
  return {
    vrfs: [{ name: 'corp', id: 1 }],
    sites: all.map((id) => ({ id, name: id, kind: dcs.includes(id) ? SiteKind.DATACENTER : SiteKind.OFFICE, region: 'eu' })),
    gateways: all.map((id, i) => ({
      id, siteId: id, nodeId: i + 1, underlayMtu: 1500, lastSeenUnixMs: 0,
      endpoints: [{ host: `198.18.${Math.floor((i + 1) / 250)}.${((i + 1) % 250) + 1}`, port: 4789 }],
    })),
    links: [link('dc-a', 'dc-b', 5), ...offs.flatMap((o) => [link(o, 'dc-a', 10), link(o, 'dc-b', 20)])],
    prefixes: all.map((id, i) => ({ siteId: id, vrf: 'corp', cidr: `10.${Math.floor(i / 250)}.${i % 250}.0/24` })),
  };
}

/** Every gateway id of the fleet, datacenters first. */
export function fleetGateways(offices: number): string[] {
  return ['dc-a', 'dc-b', ...Array.from({ length: offices }, (_, i) => officeId(i + 1))];
}
