// The domain model is the wire contract: the generated protobuf interfaces
// are the typed objects every part passes around (validated and frozen at
// the edge that builds them). One definition, no converters to drift.
export {
  SiteKind,
  AdminState,
  OperState,
  type Vrf,
  type Site,
  type Prefix,
  type Endpoint,
  type Gateway,
  type Link,
  type Topology,
} from '../proto/gen/switchback/v1/topology.js';
export {
  Action,
  FlowTable,
  type NextHop,
  type FlowRule,
  type RuleKey,
  type Peer,
  type TableDelta,
} from '../proto/gen/switchback/v1/flow.js';

/** The largest VRF id: the tunnel header carries 24 bits. */
export const MAX_VRF_ID = 0xffffff;
