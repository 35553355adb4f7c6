// Generated topologies in the form `switchback ctl apply` accepts: the
// generator's link ids become the default `<a>--<b>` ids and the values it
// leaves at 0 (link MTU) are filled as a topology file's would be, then the
// whole is validated. The simulator, what-if and `sim --generate` use this.
import type { Topology } from '../common/model.js';
import { checkTopology, defaultLinkId, withDefaults } from '../controller/topology/topology-check.js';
import { generateTopology, type GenerateTopologyOptions } from './generate-topology.js';

export function generateValidTopology(opts: GenerateTopologyOptions): Topology {
  const t = generateTopology(opts);
  const links = t.links.map((l) => ({ ...l, id: defaultLinkId(l.a, l.b) }));
  return checkTopology(withDefaults({ ...t, links }));
}
