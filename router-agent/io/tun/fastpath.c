// The router agent's native fast path (see fastpath.h for what it takes and
// what it leaves to JS).
//
// Why it exists: on an idle gateway every packet wakes the process, and
// entering the JS engine from a cold cache costs far more than the work
// itself. Measured on the 2-vCPU test VM with one 64-byte UDP echo every
// 10 ms: a C echo answers in 132 us (median round trip) using 20 us of CPU
// per packet, Node's dgram echo in 285 us using 220 us, and the same echo
// done in a C poll callback inside Node in 147 us. The JS data plane stays
// the reference (router-agent/dataplane/forwarding.ts); this file does
// byte for byte what it does for the packets it takes, and a differential
// test holds the two together (test/io/fast-path.test.ts).
//
// State shared with JS, so either side may handle any packet of a peer:
// - the 64-bit send counter (the AEAD nonce), a Uint32Array [hi, lo, exhausted];
// - each peer's replay window, a Uint32Array laid out as ReplayWindow's;
// - each peer's up flag and tunnel MTU, a Uint32Array health writes into;
// - counters, a Float64Array JS folds into its own (fast-path-program.ts).
// All of it is only ever touched on the JS thread.
//
// The program -- peers, keys, rules -- is compiled by JS
// (router-agent/dataplane/fast-path-program.ts) into a little-endian layout
// that fastpath-program.c parses, and replaced whole on every table change.
#define NAPI_VERSION 8
#include <node_api.h>

#include "aead.h"
#include "fastpath.h"
#include "fastpath-program.h"
#include "napi-errors.h"
#include "tun.h"
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if SWITCHBACK_HAVE_OPENSSL

#define ARENA_SIZE (1 << 19)               // plaintexts waiting for the TUN write
#define PENDING_MAX COALESCE_BATCH_MAX

typedef struct fastpath {
  udp_t *udp;
  napi_ref udp_ref;
  tun_t *tuns[MAX_SLOTS];
  napi_ref tun_refs[MAX_SLOTS];
  uint32_t tun_mtu[MAX_SLOTS]; // larger packets go to JS, whose port counts them as oversize drops
  uint32_t ntuns;
  uint32_t *nonce; // [hi, lo, exhausted]
  napi_ref nonce_ref;
  program_t *prog;
  uint8_t *arena;
  size_t arena_used;
  span_t pending[PENDING_MAX];
  uint32_t pending_slot[PENDING_MAX];
  uint32_t npending;
  bool detached;
} fastpath_t;

// ---------------------------------------------------------------------------
// Packets

typedef struct {
  uint8_t family;
  uint8_t protocol;
  uint32_t total;  // the packet's own length (the read may carry trailing bytes)
  uint32_t l4;     // offset of the transport header
  bool fragment;   // IPv4 with MF or an offset
  uint32_t frag_offset;
  const uint8_t *src, *dst;
} ip_t;

// parseIpPacket (dataplane/packet.ts) with the header checksum verified:
// anything it would refuse is left to JS, which counts it.
static bool parse_ip(const uint8_t *b, size_t len, ip_t *ip) {
  if (len == 0) return false;
  uint8_t version = b[0] >> 4;
  if (version == 4) {
    if (len < 20) return false;
    uint32_t ihl = (uint32_t)(b[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > len) return false;
    uint32_t total = (uint32_t)b[2] << 8 | b[3];
    if (total < ihl || total > len) return false;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < ihl; i += 2) sum += (uint32_t)b[i] << 8 | b[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    if (sum != 0xffff) return false;
    uint32_t ff = (uint32_t)b[6] << 8 | b[7];
    *ip = (ip_t){4, b[9], total, ihl, (ff & 0x3fff) != 0, (ff & 0x1fff) * 8, b + 12, b + 16};
    return true;
  }
  if (version == 6) {
    if (len < 40) return false;
    uint32_t total = 40 + ((uint32_t)b[4] << 8 | b[5]);
    if (total > len) return false;
    *ip = (ip_t){6, b[6], total, 40, false, 0, b + 8, b + 24};
    return true;
  }
  return false;
}

// A TCP packet whose MSS the JS data plane might clamp (a SYN), or one whose
// TCP header cannot be seen (a fragment): left to JS.
static bool needs_js(const uint8_t *b, const ip_t *ip) {
  if (ip->protocol != 6) return false;
  if (ip->fragment) return true;
  return ip->l4 + 20 <= ip->total && (b[ip->l4 + 13] & 0x02) != 0;
}

// ---------------------------------------------------------------------------
// ECMP: flowHash and rendezvous choice of dataplane/flow-hash.ts and
// forwarding.ts choose(), bit for bit.

static inline uint32_t rotl(uint32_t x, int r) { return x << r | x >> (32 - r); }

static inline uint32_t mix_in(uint32_t h, uint32_t k) {
  k *= 0xcc9e2d51u;
  k = rotl(k, 15);
  k *= 0x1b873593u;
  h ^= k;
  h = rotl(h, 13);
  return h * 5 + 0xe6546b64u;
}

static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

static uint32_t flow_hash(const uint8_t *b, const ip_t *ip, uint32_t seed) {
  uint32_t h = seed;
  int words = ip->family == 4 ? 1 : 4;
  for (int i = 0; i < words; i++) h = mix_in(h, be32(ip->src + 4 * i));
  for (int i = 0; i < words; i++) h = mix_in(h, be32(ip->dst + 4 * i));
  uint8_t proto = ip->protocol;
  h = mix_in(h, proto);
  if ((proto == 6 || proto == 17 || proto == 132 || proto == 136) && ip->frag_offset == 0 && ip->l4 + 4 <= ip->total) {
    h = mix_in(h, be32(b + ip->l4));
  }
  return fmix32(h);
}

// ---------------------------------------------------------------------------
// Replay window: ReplayWindow.accept (dataplane/replay-window.ts) split in
// two, so that nothing moves until the packet is certainly taken.

static inline uint64_t u64(uint32_t hi, uint32_t lo) { return (uint64_t)hi << 32 | lo; }

static bool replay_would_accept(const program_t *p, const uint32_t *w, uint32_t hi, uint32_t lo) {
  uint64_t c = u64(hi, lo);
  if (c < u64(p->floor_hi, p->floor_lo)) return false;
  if (!w[REPLAY_BLOCKS + 2]) return true;
  uint64_t top = u64(w[REPLAY_BLOCKS], w[REPLAY_BLOCKS + 1]);
  if (c > top) return true;
  if (top - c > REPLAY_WINDOW) return false;
  return (w[(lo >> 5) & (REPLAY_BLOCKS - 1)] & (1u << (lo & 31))) == 0;
}

static void replay_record(uint32_t *w, uint32_t hi, uint32_t lo) {
  uint64_t c = u64(hi, lo);
  if (!w[REPLAY_BLOCKS + 2]) {
    w[REPLAY_BLOCKS + 2] = 1;
    memset(w, 0, REPLAY_BLOCKS * sizeof *w);
    w[REPLAY_BLOCKS] = hi;
    w[REPLAY_BLOCKS + 1] = lo;
  } else {
    uint64_t top = u64(w[REPLAY_BLOCKS], w[REPLAY_BLOCKS + 1]);
    if (c > top) {
      if (c - top >= 2048 + 32) {
        memset(w, 0, REPLAY_BLOCKS * sizeof *w);
      } else {
        uint32_t top_block = w[REPLAY_BLOCKS + 1] >> 5;
        uint32_t steps = ((lo >> 5) - top_block) & 0x7ffffff;
        if (steps > REPLAY_BLOCKS) steps = REPLAY_BLOCKS;
        for (uint32_t i = 1; i <= steps; i++) w[(top_block + i) & (REPLAY_BLOCKS - 1)] = 0;
      }
      w[REPLAY_BLOCKS] = hi;
      w[REPLAY_BLOCKS + 1] = lo;
    }
  }
  w[(lo >> 5) & (REPLAY_BLOCKS - 1)] |= 1u << (lo & 31);
}

// ---------------------------------------------------------------------------
// The two directions


static inline double *rule_counters(const program_t *p, int32_t r) { return p->counters + C_BASE + 2 * (size_t)r; }
static inline double *peer_counters(const program_t *p, const peer_t *x) {
  return p->counters + C_BASE + 2 * (size_t)p->nrules + 4 * (size_t)(x - p->peers);
}

// route() for a packet from an access port, when its rule forwards to one
// peer (ECMP rules are left to JS) and nothing about the packet needs JS.
// On success *out is a malloc'd sealed datagram.
static bool seal_from_access(fastpath_t *fp, uint32_t slot, const uint8_t *pkt, size_t len, uint8_t **out, uint32_t *out_len, peer_t **to) {
  program_t *p = fp->prog;
  if (!p || slot >= p->nslots || fp->nonce[2]) return false;
  ip_t ip;
  if (!parse_ip(pkt, len, &ip)) return false;
  uint32_t vrf = p->slot_vrf[slot];
  int32_t ri = lpm_lookup(p, vrf, ip.family, ip.dst);
  if (ri < 0) return false;
  const rule_t *r = &p->rules[ri];
  if (r->action != ACT_FORWARD) return false;
  peer_t *peer = NULL;
  if (r->nprimaries > 1) {
    uint32_t h = flow_hash(pkt, &ip, p->hash_seed);
    int64_t best = -1;
    for (uint32_t k = 0; k < r->nprimaries; k++) {
      peer_t *c = &p->peers[p->hops[(uint32_t)r->primary + k]];
      if (!peer_up(c)) continue;
      uint32_t score = fmix32(h ^ c->salt);
      if ((int64_t)score > best) {
        best = score;
        peer = c;
      }
    }
  } else if (r->primary >= 0 && peer_up(&p->peers[r->primary])) {
    peer = &p->peers[r->primary];
  }
  if (!peer && r->backup >= 0 && peer_up(&p->peers[r->backup])) peer = &p->peers[r->backup];
  if (!peer || !peer->sendable || !peer->seal || ip.total > peer_mtu(peer) || needs_js(pkt, &ip)) return false;

  uint32_t dlen = AEAD_HEADER + ip.total + AEAD_TAG;
  uint8_t *dg = malloc(dlen);
  if (!dg) return false;
  dg[0] = TUNNEL_VERSION;
  dg[1] = TYPE_DATA;
  dg[2] = p->hop_limit;
  dg[3] = peer->key_id;
  dg[4] = (uint8_t)(vrf >> 16);
  dg[5] = (uint8_t)(vrf >> 8);
  dg[6] = (uint8_t)vrf;
  dg[7] = 0;
  put_be32(dg + 8, p->node_id);
  put_be32(dg + 12, fp->nonce[0]);
  put_be32(dg + 16, fp->nonce[1]);
  if (!aead_seal_datagram(peer->seal, dg, pkt, ip.total)) {
    free(dg); // no datagram left with this nonce: it is not used up
    return false;
  }
  if (++fp->nonce[1] == 0 && ++fp->nonce[0] == 0) fp->nonce[2] = 1;
  double *rc = rule_counters(p, ri), *pc = peer_counters(p, peer);
  rc[0]++;
  rc[1] += ip.total;
  pc[0]++;
  pc[1] += dlen;
  p->counters[C_EGRESS]++;
  *out = dg;
  *out_len = dlen;
  *to = peer;
  return true;
}

static const peer_t *peer_by_node(const program_t *p, uint32_t node) {
  uint32_t lo = 0, hi = p->npeers;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    uint32_t id = p->peers[p->by_node[mid]].node_id;
    if (id == node) return &p->peers[p->by_node[mid]];
    if (id < node) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

// fromUnderlay() for a data datagram that opens, is new, and carries a
// packet delivered to one of our access ports. `plain` has room for
// len - 36 bytes; on success the packet is plain[0, *plain_len) for *slot_out.
static bool open_from_underlay(fastpath_t *fp, const uint8_t *dg, size_t len, uint8_t *plain, uint32_t *plain_len, uint32_t *slot_out) {
  program_t *p = fp->prog;
  if (!p || len < AEAD_HEADER + AEAD_TAG || len > 65535) return false;
  if (dg[0] != TUNNEL_VERSION || dg[1] != TYPE_DATA || dg[7] != 0 || dg[2] == 0) return false;
  const peer_t *peer = peer_by_node(p, be32(dg + 8));
  if (!peer) return false;
  EVP_CIPHER_CTX *key = NULL;
  for (int i = 0; i < 3 && !key; i++) {
    if (peer->open[i] && peer->open_id[i] == dg[3]) key = peer->open[i];
  }
  uint32_t hi = be32(dg + 12), lo = be32(dg + 16);
  if (!key || !replay_would_accept(p, peer->replay, hi, lo)) return false;
  uint32_t vrf = (uint32_t)dg[4] << 16 | (uint32_t)dg[5] << 8 | dg[6];
  uint32_t slot = 0;
  while (slot < p->nslots && p->slot_vrf[slot] != vrf) slot++;
  if (slot == p->nslots) return false;
  if (!aead_open_datagram(key, dg, len, plain)) return false;
  ip_t ip;
  if (!parse_ip(plain, len - AEAD_HEADER - AEAD_TAG, &ip)) return false;
  int32_t ri = lpm_lookup(p, vrf, ip.family, ip.dst);
  if (ri < 0 || p->rules[ri].action != ACT_DELIVER) return false;
  if (slot < fp->ntuns && ip.total > fp->tun_mtu[slot]) return false;
  // Taken: from here on it is the JS data plane's accounting, done here.
  replay_record(peer->replay, hi, lo);
  double *pc = peer_counters(p, peer), *rc = rule_counters(p, ri);
  pc[2]++;
  pc[3] += (double)len;
  rc[0]++;
  rc[1] += ip.total;
  p->counters[C_INGRESS]++;
  p->counters[C_DELIVERED_BYTES] += ip.total;
  *plain_len = ip.total;
  *slot_out = slot;
  return true;
}

bool fastpath_from_access(fastpath_t *fp, uint32_t slot, const uint8_t *pkt, size_t len) {
  if (fp->detached || !fp->prog) return false;
  uint8_t *dg;
  uint32_t dlen;
  peer_t *peer;
  if (!seal_from_access(fp, slot, pkt, len, &dg, &dlen, &peer)) {
    fp->prog->counters[C_ACCESS_PUNTS]++;
    return false;
  }
  if (udp_enqueue_owned(fp->udp, &peer->addr, peer->alen, dg, dlen) < 0) fp->prog->counters[C_UDP_DROPS]++;
  return true;
}

static void write_pending(fastpath_t *fp) {
  span_t spans[PENDING_MAX];
  int32_t results[PENDING_MAX];
  for (uint32_t slot = 0; slot < fp->ntuns && fp->npending > 0; slot++) {
    uint32_t k = 0;
    for (uint32_t i = 0; i < fp->npending; i++) {
      if (fp->pending_slot[i] == slot) spans[k++] = fp->pending[i];
    }
    if (k == 0) continue;
    tun_write_spans(fp->tuns[slot], spans, k, results);
    for (uint32_t i = 0; i < k; i++) {
      if (results[i] < 0 && fp->prog) fp->prog->counters[C_TUN_ERRORS]++;
    }
  }
  fp->npending = 0;
  fp->arena_used = 0;
}

bool fastpath_from_underlay(fastpath_t *fp, const uint8_t *dg, size_t len) {
  if (fp->detached || !fp->prog) return false;
  size_t room = len >= AEAD_HEADER + AEAD_TAG ? len - AEAD_HEADER - AEAD_TAG : 0;
  if (fp->npending == PENDING_MAX || fp->arena_used + room > ARENA_SIZE) write_pending(fp);
  uint8_t *plain = fp->arena + fp->arena_used;
  uint32_t plen, slot;
  if (room > ARENA_SIZE || !open_from_underlay(fp, dg, len, plain, &plen, &slot) || slot >= fp->ntuns) {
    fp->prog->counters[C_UNDERLAY_PUNTS]++;
    return false;
  }
  fp->pending[fp->npending] = (span_t){plain, plen};
  fp->pending_slot[fp->npending++] = slot;
  fp->arena_used += (plen + 15) & ~(size_t)15;
  return true;
}

void fastpath_flush(fastpath_t *fp) {
  if (fp->npending) write_pending(fp);
  if (fp->udp && !fp->detached) udp_flush_now(fp->udp);
}

// ---------------------------------------------------------------------------
// The FastPath class

static napi_type_tag FASTPATH_TAG = {0x9b1c5a0e3f7d4c21ULL, 0x8e2f6b3a1d4c7e90ULL};

static void detach(fastpath_t *fp) {
  if (fp->detached) return;
  fp->detached = true;
  if (fp->npending) write_pending(fp);
  if (fp->udp && fp->udp->fp == fp) fp->udp->fp = NULL;
  for (uint32_t i = 0; i < fp->ntuns; i++) {
    if (fp->tuns[i] && fp->tuns[i]->fp == fp) fp->tuns[i]->fp = NULL;
  }
}

static void release(napi_env env, fastpath_t *fp) {
  detach(fp);
  program_free(env, fp->prog);
  fp->prog = NULL;
  if (env) {
    if (fp->udp_ref) napi_delete_reference(env, fp->udp_ref);
    for (uint32_t i = 0; i < fp->ntuns; i++) {
      if (fp->tun_refs[i]) napi_delete_reference(env, fp->tun_refs[i]);
    }
    if (fp->nonce_ref) napi_delete_reference(env, fp->nonce_ref);
  }
  fp->udp_ref = fp->nonce_ref = NULL;
  memset(fp->tun_refs, 0, sizeof fp->tun_refs);
}

// At environment teardown the devices may be freed before this object's
// finalizer runs: let go of them while they are certainly alive.
static void env_cleanup(void *arg) {
  fastpath_t *fp = (fastpath_t *)arg;
  detach(fp);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  fastpath_t *fp = (fastpath_t *)data;
  napi_remove_env_cleanup_hook(env, env_cleanup, fp);
  release(env, fp); // detached already at teardown: the devices are not touched
  free(fp->arena);
  free(fp);
}

static fastpath_t *self_of(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  bool ok = false;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_check_object_type_tag(env, self, &FASTPATH_TAG, &ok) != napi_ok || !ok || napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "EINVAL", "not a FastPath object");
    return NULL;
  }
  return (fastpath_t *)data;
}

// new FastPath(udp: Udp, tuns: Tun[], mtus: Uint32Array, nonce: Uint32Array(3))
// -- tuns[i] is access port slot i, with MTU mtus[i]. Hooks itself into
// their read paths.
static napi_value fp_new(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4], self;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  const char *usage = "new FastPath(udp: Udp, tuns: Tun[], mtus: Uint32Array of tuns.length, nonce: Uint32Array of 3)";
  bool ok = false, is_array = false;
  uint32_t ntuns = 0;
  void *nonce = NULL, *mtus = NULL;
  size_t nlen = 0, mlen = 0;
  if (argc < 4 || napi_check_object_type_tag(env, argv[0], &UDP_TAG, &ok) != napi_ok || !ok ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &ntuns) != napi_ok ||
      ntuns > MAX_SLOTS || !typed_array(env, argv[2], napi_uint32_array, &mtus, &mlen) || mlen != ntuns ||
      !typed_array(env, argv[3], napi_uint32_array, &nonce, &nlen) || nlen != 3) {
    napi_throw_type_error(env, "EINVAL", usage);
    return NULL;
  }
  void *data = NULL;
  napi_unwrap(env, argv[0], &data);
  udp_t *udp = (udp_t *)data;
  tun_t *tuns[MAX_SLOTS];
  for (uint32_t i = 0; i < ntuns; i++) {
    napi_value t;
    ok = false;
    data = NULL;
    if (napi_get_element(env, argv[1], i, &t) != napi_ok || napi_check_object_type_tag(env, t, &TUN_TAG, &ok) != napi_ok || !ok ||
        napi_unwrap(env, t, &data) != napi_ok || !data) {
      napi_throw_type_error(env, "EINVAL", usage);
      return NULL;
    }
    tuns[i] = (tun_t *)data;
  }
  if (!udp || udp->fp) {
    napi_throw_error(env, "EBUSY", "the UDP port already has a fast path");
    return NULL;
  }
  for (uint32_t i = 0; i < ntuns; i++) {
    if (tuns[i]->fp) {
      napi_throw_error(env, "EBUSY", "a TUN device already has a fast path");
      return NULL;
    }
  }
  fastpath_t *fp = calloc(1, sizeof *fp);
  uint8_t *arena = malloc(ARENA_SIZE);
  if (!fp || !arena) {
    free(fp);
    free(arena);
    return throw_errno(env, ENOMEM, "FastPath", NULL);
  }
  fp->arena = arena;
  fp->udp = udp;
  fp->ntuns = ntuns;
  memcpy(fp->tun_mtu, mtus, ntuns * sizeof(uint32_t));
  fp->nonce = (uint32_t *)nonce;
  bool refs = napi_create_reference(env, argv[0], 1, &fp->udp_ref) == napi_ok && napi_create_reference(env, argv[3], 1, &fp->nonce_ref) == napi_ok;
  for (uint32_t i = 0; i < ntuns && refs; i++) {
    napi_value t;
    fp->tuns[i] = tuns[i];
    refs = napi_get_element(env, argv[1], i, &t) == napi_ok && napi_create_reference(env, t, 1, &fp->tun_refs[i]) == napi_ok;
  }
  if (!refs || napi_type_tag_object(env, self, &FASTPATH_TAG) != napi_ok || napi_wrap(env, self, fp, finalize, NULL, NULL) != napi_ok) {
    fp->detached = true; // not hooked yet
    release(env, fp);
    free(arena);
    free(fp);
    throw_status(env, "FastPath");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, fp);
  udp->fp = fp;
  for (uint32_t i = 0; i < ntuns; i++) {
    tuns[i]->fp = fp;
    tuns[i]->fp_slot = i;
  }
  return self;
}

// install(program: Uint8Array | null, windows: Uint32Array[], peerStates: Uint32Array,
//         counters: Float64Array) -- replaces the program whole; null: everything goes to JS.
static napi_value fp_install(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  fastpath_t *fp = self_of(env, info, &argc, argv);
  if (!fp) return NULL;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  program_t *next = NULL;
  if (t != napi_null) {
    void *data = NULL;
    size_t n = 0;
    const char *why = "install(program: Uint8Array | null, windows: Uint32Array[], peerStates: Uint32Array, counters: Float64Array)";
    if (argc < 4 || !typed_array(env, argv[0], napi_uint8_array, &data, &n) || !(next = program_parse(env, data, n, argv[1], argv[2], argv[3], &why))) {
      napi_throw_type_error(env, "EINVAL", why);
      return NULL;
    }
  }
  // Datagrams opened under the old program are written first.
  if (fp->npending) write_pending(fp);
  program_free(env, fp->prog);
  fp->prog = next;
  return NULL;
}

// sealFromAccess(slot, packet): Buffer | null -- what the fast path would
// send for this packet (and the state it moves), without sending it. For tests.
static napi_value fp_test_seal(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], v;
  fastpath_t *fp = self_of(env, info, &argc, argv);
  if (!fp) return NULL;
  uint32_t slot = 0;
  void *data = NULL;
  size_t n = 0;
  if (argc < 2 || napi_get_value_uint32(env, argv[0], &slot) != napi_ok || !typed_array(env, argv[1], napi_uint8_array, &data, &n)) {
    napi_throw_type_error(env, "EINVAL", "sealFromAccess(slot: number, packet: Uint8Array)");
    return NULL;
  }
  uint8_t *dg;
  uint32_t dlen;
  peer_t *peer;
  if (!seal_from_access(fp, slot, data, n, &dg, &dlen, &peer)) {
    napi_get_null(env, &v);
    return v;
  }
  napi_status s = napi_create_buffer_copy(env, dlen, dg, NULL, &v);
  free(dg);
  CHECK(env, s);
  return v;
}

// openFromUnderlay(datagram): [slot, Buffer] | null -- the same for the
// other direction, without writing to a TUN. For tests.
static napi_value fp_test_open(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  fastpath_t *fp = self_of(env, info, &argc, argv);
  if (!fp) return NULL;
  void *data = NULL;
  size_t n = 0;
  if (argc < 1 || !typed_array(env, argv[0], napi_uint8_array, &data, &n)) {
    napi_throw_type_error(env, "EINVAL", "openFromUnderlay(datagram: Uint8Array)");
    return NULL;
  }
  uint8_t *plain = malloc(n > 36 ? n - 36 : 1);
  uint32_t plen = 0, slot = 0;
  if (!plain) return throw_errno(env, ENOMEM, "openFromUnderlay", NULL);
  if (!open_from_underlay(fp, data, n, plain, &plen, &slot)) {
    free(plain);
    napi_get_null(env, &v);
    return v;
  }
  napi_value pair, s, b;
  napi_status st = napi_create_buffer_copy(env, plen, plain, NULL, &b);
  free(plain);
  CHECK(env, st);
  CHECK(env, napi_create_array_with_length(env, 2, &pair));
  CHECK(env, napi_create_uint32(env, slot, &s));
  CHECK(env, napi_set_element(env, pair, 0, s));
  CHECK(env, napi_set_element(env, pair, 1, b));
  return pair;
}

// close(): unhooks from the devices; packets go to JS from then on.
static napi_value fp_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  fastpath_t *fp = self_of(env, info, &argc, NULL);
  if (!fp) return NULL;
  release(env, fp);
  return NULL;
}

napi_value fastpath_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"install", NULL, fp_install, NULL, NULL, NULL, napi_default, NULL},
      {"sealFromAccess", NULL, fp_test_seal, NULL, NULL, NULL, napi_default, NULL},
      {"openFromUnderlay", NULL, fp_test_open, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, fp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, base;
  CHECK(env, napi_define_class(env, "FastPath", NAPI_AUTO_LENGTH, fp_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(env, napi_create_uint32(env, C_BASE, &base));
  napi_property_descriptor fns[] = {
      {"FastPath", NULL, NULL, NULL, NULL, cls, napi_enumerable, NULL},
      {"FAST_PATH_COUNTERS_BASE", NULL, NULL, NULL, NULL, base, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  return exports;
}

#else
// Without OpenSSL there is no native AEAD, so no fast path: JS does it all.
bool fastpath_from_access(struct fastpath *fp, uint32_t slot, const uint8_t *pkt, size_t len) {
  (void)fp, (void)slot, (void)pkt, (void)len;
  return false;
}
bool fastpath_from_underlay(struct fastpath *fp, const uint8_t *dg, size_t len) {
  (void)fp, (void)dg, (void)len;
  return false;
}
void fastpath_flush(struct fastpath *fp) { (void)fp; }
napi_value fastpath_init(napi_env env, napi_value exports) {
  (void)env;
  return exports;
}
#endif
