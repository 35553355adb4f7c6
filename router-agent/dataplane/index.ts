// The data plane's public surface, for the I/O ports, the health module and the agent.

export { DataPlane, type DataPlaneOptions } from './forwarding.js';
export type { DeliverVerdict, DropVerdict, PeerView, ProbeVerdict, ReplyVerdict, SendFragmentsVerdict, SendVerdict, Verdict } from './verdict.js';
export { type CountersSnapshot, DROP_REASONS, type DropReason, type PeerCountersSnapshot, type RuleCountersSnapshot } from './counters.js';
export { DEFAULT_UNDERLAY_MTU, type UnderlayMode, tunnelOverhead } from './overhead.js';
export { AEAD_ALGORITHM, KEY_LENGTH, SEAL_OVERHEAD, TAG_LENGTH } from './aead.js';
export { DEFAULT_HOP_LIMIT, PacketType, TUNNEL_HEADER_LENGTH, TUNNEL_VERSION } from './tunnel-header.js';
export { GRE_HEADER_LENGTH, GRE_PROTO_IPV4, GRE_PROTO_IPV6 } from './gre.js';
export { REPLAY_WINDOW } from './replay-window.js';
