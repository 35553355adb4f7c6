// Small scenarios for the simulator tests, written as users write them.
import { parseScenario, type Scenario } from '../../sim/scenario.js';

/**
 * An office dual-homed to two datacenters: primary o1-gw--dc1-gw (cost 10),
 * secondary o1-gw--dc2-gw (cost 20), the datacenters joined at cost
 * `dcCost`. Both office links share the access line SRLG `o1-line`.
 * One-way latencies: 5 ms office-dc1, 8 ms office-dc2, 3 ms dc1-dc2.
 */
export function officeTopology(dcCost = 5, primaryLink = ''): string {
  return `
topology:
  vrfs: [{ name: corp, id: 1 }]
  sites:
    - { id: dc1, kind: datacenter, region: eu, prefixes: [{ vrf: corp, cidr: 10.1.0.0/16 }] }
    - { id: dc2, kind: datacenter, region: eu, prefixes: [{ vrf: corp, cidr: 10.2.0.0/16 }] }
    - { id: o1, kind: office, region: eu, prefixes: [{ vrf: corp, cidr: 192.168.1.0/24 }] }
    - { id: o2, kind: office, region: eu, prefixes: [{ vrf: corp, cidr: 192.168.2.0/24 }] }
  gateways:
    - { id: dc1-gw, site: dc1 }
    - { id: dc2-gw, site: dc2 }
    - { id: o1-gw, site: o1 }
    - { id: o2-gw, site: o2 }
  links:
    - { a: o1-gw, b: dc1-gw, cost: 10, capacity_mbps: 100, srlgs: [o1-line] }
    - { a: o1-gw, b: dc2-gw, cost: 20, capacity_mbps: 10, srlgs: [o1-line] }
    - { a: dc1-gw, b: dc2-gw, cost: ${dcCost}, capacity_mbps: 1000 }
    - { a: o2-gw, b: dc2-gw, cost: 10, capacity_mbps: 100 }
network:
  defaults: { latency_ms: 5 }
  links:
    dc1-gw--o1-gw: { latency_ms: 5${primaryLink ? `, ${primaryLink}` : ''} }
    dc2-gw--o1-gw: { latency_ms: 8 }
    dc1-gw--dc2-gw: { latency_ms: 3 }
`;
}

export function scenario(body: string, source = 'test-scenario.yaml'): Scenario {
  return parseScenario(body, source);
}

const TIMING = {
  probe_interval_ms: 100,
  detect_multiplier: 3,
  hold_ms: 5000,
  control_delay_ms: 20,
  compute_ms: 50,
  duration_s: 15,
  seed: 3,
  max_sample_pps: 1000,
};

export interface OfficeOptions {
  /** Timing keys over the defaults above. */
  timing?: Record<string, number | boolean>;
  /** The events list, as YAML lines. */
  events: string;
  demands?: string;
  dcCost?: number;
  routing?: string;
  /** Extra settings of the primary tunnel in network.links (e.g. 'probe_interval_ms: 20'). */
  primaryLink?: string;
}

/** The office scenario with the given timing, events and demands. */
export function officeScenario(opts: OfficeOptions): Scenario {
  const timing = Object.entries({ ...TIMING, ...(opts.timing ?? {}) })
    .map(([k, v]) => `  ${k}: ${v}`)
    .join('\n');
  return scenario(
    officeTopology(opts.dcCost, opts.primaryLink) +
      `
demands:
${opts.demands ?? '  - { id: o1-dc1, from: o1, to: dc1, rate_pps: 1000 }'}
timing:
${timing}
${opts.routing ?? ''}
events:
${opts.events}
`,
  );
}
