// The native fast path of the router agent (fastpath.c): the common case of
// the data plane -- a packet from a TUN sealed to one peer, a datagram from
// a peer opened and delivered to a TUN -- done in C inside the read
// callbacks of tun.c and udp.c, without entering JS. Everything else (probes,
// ICMP errors, fragments, MSS clamping, ECMP, transit, every drop) is left
// to the JS data plane, which counts it: the fast path changes no state for
// a packet it leaves.
#ifndef SWITCHBACK_FASTPATH_H
#define SWITCHBACK_FASTPATH_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fastpath;

// A packet read from access port `slot`: true when the fast path sealed and
// queued it (sent at fastpath_flush), false when JS is to decide.
bool fastpath_from_access(struct fastpath *fp, uint32_t slot, const uint8_t *pkt, size_t len);
// A datagram from the underlay: true when the fast path opened and queued
// its packet for a TUN (written at fastpath_flush), false when JS is to decide.
bool fastpath_from_underlay(struct fastpath *fp, const uint8_t *dg, size_t len);
// Sends what was sealed and writes what was opened; called at the end of
// every read wake-up, before anything is handed to JS.
void fastpath_flush(struct fastpath *fp);

napi_value fastpath_init(napi_env env, napi_value exports);

#endif
