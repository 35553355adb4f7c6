// The reachability sweep both emulation suites run: every office host pings
// every other host of its own VRF (skipping the address it has itself, as
// the 192.168.1.0/24 twins do).
import { SiteKind } from '../../common/model.js';
import type { Emulation } from '../../emulate/emulation.js';
import { reaches } from '../../emulate/probes.js';

export async function officeReachability(e: Emulation): Promise<{ misses: string[]; checked: number }> {
  const hosts = [...e.net.hosts.values()];
  const kinds = new Map(e.net.topology.sites.map((s) => [s.id, s.kind]));
  const misses: string[] = [];
  let checked = 0;
  for (const src of hosts.filter((h) => kinds.get(h.site) === SiteKind.OFFICE)) {
    for (const dst of hosts) {
      if (dst === src || dst.vrf !== src.vrf) continue;
      const addr = dst.addresses[0]!;
      if (src.addresses.includes(addr)) continue;
      checked++;
      if (!(await reaches(e.h, src.ns, addr, 3, 1))) misses.push(`${src.site} -> ${dst.site} ${addr}`);
    }
  }
  return { misses, checked };
}
