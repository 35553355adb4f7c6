// What the data plane decides for one packet. The I/O ports act on it; the
// data plane itself never touches a socket or a device.

import type { Endpoint } from '../../common/model.js';
import type { DropReason } from './counters.js';

/** A tunnel peer as the ports and the health module see it. */
export interface PeerView {
  readonly gatewayId: string;
  readonly nodeId: number;
  readonly linkId: string;
  readonly endpoints: readonly Endpoint[];
  /** The underlay path MTU in use: the path MTU health measured, else the table's, else the default. */
  readonly underlayMtu: number;
  /** The largest inner packet that fits: underlayMtu minus the tunnel overhead. */
  readonly tunnelMtu: number;
  /** As health last said (setPeerState); a peer starts up. */
  readonly up: boolean;
}

/** Send `bytes` (a sealed tunnel datagram, or in GRE mode a GRE packet) to `peer`. */
export interface SendVerdict {
  readonly type: 'send';
  readonly peer: PeerView;
  readonly bytes: Uint8Array;
}

/** An IPv4 packet without DF that did not fit: send each datagram, in order, to `peer`. */
export interface SendFragmentsVerdict {
  readonly type: 'send-fragments';
  readonly peer: PeerView;
  readonly datagrams: readonly Uint8Array[];
}

/** Write `bytes` (an inner IP packet of `vrf`, one of the agent's access VRFs) to the TUN of `vrf`. */
export interface DeliverVerdict {
  readonly type: 'deliver';
  readonly vrf: number;
  readonly bytes: Uint8Array;
}

/** Write `bytes` (an ICMP error for the packet just read) back to the TUN it came from, the TUN of `vrf`. */
export interface ReplyVerdict {
  readonly type: 'reply';
  readonly vrf: number;
  readonly bytes: Uint8Array;
}

/** An authenticated probe (or probe reply) from `peer`; `payload` is whatever the peer's health module sealed. */
export interface ProbeVerdict {
  readonly type: 'probe' | 'probe-reply';
  readonly peer: PeerView;
  readonly payload: Uint8Array;
  /** The datagram's length as received: what a path MTU probe measures. */
  readonly datagramLength: number;
}

/** Dropped and already counted under `reason`. */
export interface DropVerdict {
  readonly type: 'drop';
  readonly reason: DropReason;
}

export type Verdict = SendVerdict | SendFragmentsVerdict | DeliverVerdict | ReplyVerdict | ProbeVerdict | DropVerdict;
