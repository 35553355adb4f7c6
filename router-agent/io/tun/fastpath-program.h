// The fast path's program (fastpath-program.c): what JS compiled from the
// flow table (router-agent/dataplane/fast-path-program.ts), parsed into the
// structures the packet path (fastpath.c) reads, and the LPM over its rules.
#ifndef SWITCHBACK_FASTPATH_PROGRAM_H
#define SWITCHBACK_FASTPATH_PROGRAM_H

#include <node_api.h>

#include "aead.h"
#include "udp.h"

#include <stdbool.h>
#include <stdint.h>

#if SWITCHBACK_HAVE_OPENSSL

#define FP_MAGIC 0x50464253u // "SBFP"
#define FP_FORMAT 2
#define HEADER_SIZE 48
#define PEER_SIZE 136
#define RULE_SIZE 32
#define MAX_SLOTS 64
#define REPLAY_BLOCKS 64                   // REPLAY_BITMAP_BITS (2048) / 32
#define REPLAY_WORDS (REPLAY_BLOCKS + 3)   // bitmap, topHi, topLo, seen
#define REPLAY_WINDOW (2048 - 32)
#define TUNNEL_VERSION 1
#define TYPE_DATA 1

enum { ACT_PUNT = 0, ACT_DELIVER = 1, ACT_FORWARD = 2 };

// Indexes into the counters array; per-rule and per-peer counters follow.
enum {
  C_EGRESS,         // packets sealed and sent by the fast path
  C_INGRESS,        // packets opened and delivered by the fast path
  C_ACCESS_PUNTS,   // packets from a TUN left to JS
  C_UNDERLAY_PUNTS, // datagrams left to JS
  C_DELIVERED_BYTES,
  C_UDP_DROPS,      // sealed, but the socket queue was full
  C_TUN_ERRORS,     // opened, but the TUN refused the write
  C_RESERVED,
  C_BASE
};

typedef struct {
  uint32_t node_id;
  bool sendable;
  // (up << 16) | tunnel MTU, in a JS Uint32Array: health changes a peer's
  // state there, without a new program.
  const uint32_t *state;
  uint8_t key_id;
  uint32_t salt; // rendezvous hashing over ECMP next hops
  addr_t addr;
  socklen_t alen;
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open[3]; // current, previous, next: forKeyId's order
  int16_t open_id[3];
  uint32_t *replay;
} peer_t;

typedef struct {
  uint32_t vrf;
  uint8_t family, len, action;
  uint8_t nprimaries;
  int32_t primary; // the one primary, or (ECMP) where its primaries start in hops
  int32_t backup;
  uint8_t addr[16];
} rule_t;

typedef struct {
  int32_t rule; // -1: empty
} lpm_entry_t;

typedef struct {
  uint32_t node_id, floor_hi, floor_lo, hash_seed;
  uint8_t hop_limit;
  uint32_t nslots;
  uint32_t slot_vrf[MAX_SLOTS];
  uint32_t npeers, nrules;
  peer_t *peers;
  uint32_t *by_node; // peer indexes sorted by node id
  rule_t *rules;
  uint32_t *hops; // ECMP rules' primaries, as peer indexes
  uint32_t nhops;
  uint8_t lens4[33], lens6[129]; // distinct prefix lengths, longest first
  uint32_t nlens4, nlens6;
  lpm_entry_t *lpm;
  uint32_t lpm_mask;
  double *counters;
  napi_ref *refs; // the counters, the peer states and every replay window: kept alive while in use
  uint32_t nrefs;
} program_t;

// Bytes

static inline uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline void put_be32(uint8_t *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}
static inline uint32_t le32(const uint8_t *p) { return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0]; }
static inline uint16_t le16(const uint8_t *p) { return (uint16_t)(p[1] << 8 | p[0]); }

static inline bool peer_up(const peer_t *x) { return (*x->state >> 16) & 1; }
static inline uint32_t peer_mtu(const peer_t *x) { return *x->state & 0xffff; }

// Parses a program; NULL with a message in *why for anything malformed. The
// windows (one Uint32Array per peer), the peer states (Uint32Array) and the
// counters (Float64Array) are JS memory, referenced while the program lives.
program_t *program_parse(napi_env env, const uint8_t *b, size_t n, napi_value windows, napi_value states, napi_value counters, const char **why);
// env NULL at teardown: the references are not touched.
void program_free(napi_env env, program_t *p);
// The rule for (VRF, destination address), longest prefix first, or -1.
int32_t lpm_lookup(const program_t *p, uint32_t vrf, uint8_t family, const uint8_t *dst);
bool typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *n);

#endif
#endif
