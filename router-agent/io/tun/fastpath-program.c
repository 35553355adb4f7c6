// The fast path's program: parsing the layout that
// router-agent/dataplane/fast-path-program.ts writes (every count and index
// checked), the OpenSSL contexts of the peers' keys, and the LPM over the
// rules: one hash table over (VRF, family, length, masked address), probed
// from the longest length present down.
#define NAPI_VERSION 8
#include "fastpath-program.h"

#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#if SWITCHBACK_HAVE_OPENSSL

// ---------------------------------------------------------------------------
// LPM: one hash table over (VRF, family, length, masked address), probed
// from the longest length present down.

static uint32_t lpm_hash(uint32_t vrf, uint8_t family, uint8_t len, const uint8_t *addr) {
  uint32_t h = 2166136261u;
  uint8_t head[6] = {(uint8_t)(vrf >> 16), (uint8_t)(vrf >> 8), (uint8_t)vrf, family, len, 0};
  for (int i = 0; i < 6; i++) h = (h ^ head[i]) * 16777619u;
  uint32_t n = family == 4 ? 4 : 16;
  for (uint32_t i = 0; i < n; i++) h = (h ^ addr[i]) * 16777619u;
  return h ^ (h >> 15);
}

static void mask_addr(const uint8_t *in, uint8_t family, uint8_t len, uint8_t out[16]) {
  uint32_t n = family == 4 ? 4 : 16;
  memset(out, 0, 16);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t bits = len > i * 8 ? len - i * 8 : 0;
    out[i] = bits >= 8 ? in[i] : bits == 0 ? 0 : (uint8_t)(in[i] & (0xff << (8 - bits)));
  }
}

static int32_t lpm_find(const program_t *p, uint32_t vrf, uint8_t family, uint8_t len, const uint8_t masked[16]) {
  uint32_t n = family == 4 ? 4 : 16;
  for (uint32_t i = lpm_hash(vrf, family, len, masked) & p->lpm_mask;; i = (i + 1) & p->lpm_mask) {
    int32_t r = p->lpm[i].rule;
    if (r < 0) return -1;
    const rule_t *x = &p->rules[r];
    if (x->vrf == vrf && x->family == family && x->len == len && memcmp(x->addr, masked, n) == 0) return r;
  }
}

int32_t lpm_lookup(const program_t *p, uint32_t vrf, uint8_t family, const uint8_t *dst) {
  const uint8_t *lens = family == 4 ? p->lens4 : p->lens6;
  uint32_t nl = family == 4 ? p->nlens4 : p->nlens6;
  uint8_t masked[16];
  for (uint32_t i = 0; i < nl; i++) {
    mask_addr(dst, family, lens[i], masked);
    int32_t r = lpm_find(p, vrf, family, lens[i], masked);
    if (r >= 0) return r;
  }
  return -1;
}

// ---------------------------------------------------------------------------
// Programs

void program_free(napi_env env, program_t *p) {
  if (!p) return;
  for (uint32_t i = 0; i < p->npeers; i++) {
    EVP_CIPHER_CTX_free(p->peers[i].seal);
    for (int k = 0; k < 3; k++) EVP_CIPHER_CTX_free(p->peers[i].open[k]);
  }
  for (uint32_t i = 0; i < p->nrefs; i++) {
    if (p->refs[i] && env) napi_delete_reference(env, p->refs[i]);
  }
  free(p->refs);
  free(p->peers);
  free(p->by_node);
  free(p->rules);
  free(p->hops);
  free(p->lpm);
  free(p);
}

static const uint8_t NO_KEY[AEAD_KEY] = {0};

static bool peer_parse(const uint8_t *b, peer_t *x) {
  x->node_id = le32(b);
  x->sendable = (b[4] & 2) != 0;
  x->key_id = b[5];
  int16_t prev = (int16_t)le16(b + 6), next = (int16_t)le16(b + 8);
  x->salt = le32(b + 132);
  uint8_t family = b[12];
  uint16_t port = le16(b + 14);
  memset(&x->addr, 0, sizeof x->addr);
  if (family == 4) {
    x->addr.v4.sin_family = AF_INET;
    x->addr.v4.sin_port = htons(port);
    memcpy(&x->addr.v4.sin_addr, b + 20, 4);
    x->alen = sizeof x->addr.v4;
  } else if (family == 6) {
    x->addr.v6.sin6_family = AF_INET6;
    x->addr.v6.sin6_port = htons(port);
    x->addr.v6.sin6_scope_id = le32(b + 16);
    memcpy(&x->addr.v6.sin6_addr, b + 20, 16);
    x->alen = sizeof x->addr.v6;
  } else {
    x->sendable = false;
  }
  const uint8_t *key = b + 36, *pkey = b + 68, *nkey = b + 100;
  x->seal = aead_context(key, true);
  x->open[0] = aead_context(key, false);
  x->open_id[0] = x->key_id;
  x->open[1] = prev >= 0 && memcmp(pkey, NO_KEY, AEAD_KEY) ? aead_context(pkey, false) : NULL;
  x->open_id[1] = prev;
  x->open[2] = next >= 0 && memcmp(nkey, NO_KEY, AEAD_KEY) ? aead_context(nkey, false) : NULL;
  x->open_id[2] = next;
  return x->seal && x->open[0] && (prev < 0 || x->open[1]) && (next < 0 || x->open[2]);
}

static const program_t *sort_ctx;
static int by_node_cmp(const void *a, const void *b) {
  uint32_t x = sort_ctx->peers[*(const uint32_t *)a].node_id, y = sort_ctx->peers[*(const uint32_t *)b].node_id;
  return x < y ? -1 : x > y;
}

bool typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *n) {
  bool is = false;
  napi_typedarray_type t;
  return napi_is_typedarray(env, v, &is) == napi_ok && is && napi_get_typedarray_info(env, v, &t, n, data, NULL, NULL) == napi_ok && t == want;
}

// Parses a program; NULL with a message in *why for anything malformed.
program_t *program_parse(napi_env env, const uint8_t *b, size_t n, napi_value windows, napi_value states, napi_value counters, const char **why) {
  *why = "the program is malformed";
  if (n < HEADER_SIZE || le32(b) != FP_MAGIC || le32(b + 4) != FP_FORMAT) return NULL;
  uint32_t npeers = le32(b + 12), nrules = le32(b + 16), nslots = b[29], ncounters = le32(b + 32), nhops = le32(b + 40);
  size_t need = HEADER_SIZE + 4 * (size_t)nslots + PEER_SIZE * (size_t)npeers + RULE_SIZE * (size_t)nrules + 4 * (size_t)nhops;
  if (nslots > MAX_SLOTS || npeers > (1u << 20) || nrules > (1u << 24) || nhops > (1u << 26) || n != need) return NULL;
  if (ncounters != C_BASE + 2 * nrules + 4 * npeers) return NULL;
  program_t *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->node_id = le32(b + 8);
  p->floor_hi = le32(b + 20);
  p->floor_lo = le32(b + 24);
  p->hop_limit = b[28];
  p->hash_seed = le32(b + 36);
  p->nslots = nslots;
  p->nhops = nhops;
  p->npeers = npeers;
  p->nrules = nrules;
  const uint8_t *at = b + HEADER_SIZE;
  for (uint32_t i = 0; i < nslots; i++, at += 4) p->slot_vrf[i] = le32(at);
  p->peers = calloc(npeers ? npeers : 1, sizeof *p->peers);
  p->by_node = calloc(npeers ? npeers : 1, sizeof *p->by_node);
  p->rules = calloc(nrules ? nrules : 1, sizeof *p->rules);
  p->hops = calloc(nhops ? nhops : 1, sizeof *p->hops);
  uint32_t cap = 16;
  while (cap < 2 * nrules) cap <<= 1;
  p->lpm = malloc(cap * sizeof *p->lpm);
  p->lpm_mask = cap - 1;
  p->refs = calloc(npeers + 2, sizeof *p->refs);
  if (!p->peers || !p->by_node || !p->rules || !p->hops || !p->lpm || !p->refs) {
    *why = "out of memory";
    goto fail;
  }
  for (uint32_t i = 0; i < cap; i++) p->lpm[i].rule = -1;

  // The counters and the replay windows are JS memory: referenced while this program lives.
  size_t len = 0;
  void *data = NULL;
  if (!typed_array(env, counters, napi_float64_array, &data, &len) || len != ncounters) {
    *why = "counters must be a Float64Array of the program's size";
    goto fail;
  }
  p->counters = (double *)data;
  if (napi_create_reference(env, counters, 1, &p->refs[p->nrefs++]) != napi_ok) goto fail;
  if (!typed_array(env, states, napi_uint32_array, &data, &len) || len != npeers) {
    *why = "peer states must be a Uint32Array of one per peer";
    goto fail;
  }
  const uint32_t *state = (const uint32_t *)data;
  if (napi_create_reference(env, states, 1, &p->refs[p->nrefs++]) != napi_ok) goto fail;
  bool is_array = false;
  uint32_t nwin = 0;
  if (napi_is_array(env, windows, &is_array) != napi_ok || !is_array || napi_get_array_length(env, windows, &nwin) != napi_ok || nwin != npeers) {
    *why = "windows must be an array of one Uint32Array per peer";
    goto fail;
  }
  for (uint32_t i = 0; i < npeers; i++, at += PEER_SIZE) {
    peer_t *x = &p->peers[i];
    napi_value w;
    if (napi_get_element(env, windows, i, &w) != napi_ok || !typed_array(env, w, napi_uint32_array, &data, &len) || len < REPLAY_WORDS) {
      *why = "windows must be an array of one Uint32Array per peer";
      goto fail;
    }
    x->replay = (uint32_t *)data;
    x->state = state + i;
    if (napi_create_reference(env, w, 1, &p->refs[p->nrefs++]) != napi_ok) goto fail;
    if (!peer_parse(at, x)) {
      *why = "a peer's keys could not be set up";
      goto fail;
    }
    p->by_node[i] = i;
  }
  sort_ctx = p;
  qsort(p->by_node, npeers, sizeof *p->by_node, by_node_cmp);
  bool seen4[33] = {0}, seen6[129] = {0};
  for (uint32_t i = 0; i < nrules; i++, at += RULE_SIZE) {
    rule_t *r = &p->rules[i];
    r->vrf = le32(at);
    r->family = at[4];
    r->len = at[5];
    r->action = at[6];
    r->nprimaries = at[7];
    r->primary = (int32_t)le32(at + 8);
    r->backup = (int32_t)le32(at + 12);
    bool hops_ok = r->nprimaries <= 1 ? r->primary >= -1 && r->primary < (int32_t)npeers
                                      : r->primary >= 0 && (uint64_t)(uint32_t)r->primary + r->nprimaries <= nhops;
    if ((r->family != 4 && r->family != 6) || r->len > (r->family == 4 ? 32 : 128) || !hops_ok ||
        r->backup < -1 || r->backup >= (int32_t)npeers || r->action > ACT_FORWARD) {
      *why = "a rule is out of range";
      goto fail;
    }
    mask_addr(at + 16, r->family, r->len, r->addr);
    if (lpm_find(p, r->vrf, r->family, r->len, r->addr) >= 0) continue; // the first of a duplicate wins, as in JS
    uint32_t h = lpm_hash(r->vrf, r->family, r->len, r->addr) & p->lpm_mask;
    while (p->lpm[h].rule >= 0) h = (h + 1) & p->lpm_mask;
    p->lpm[h].rule = (int32_t)i;
    if (r->family == 4) seen4[r->len] = true;
    else seen6[r->len] = true;
  }
  for (uint32_t i = 0; i < nhops; i++, at += 4) {
    p->hops[i] = le32(at);
    if (p->hops[i] >= npeers) {
      *why = "a next hop is out of range";
      goto fail;
    }
  }
  for (int l = 32; l >= 0; l--) if (seen4[l]) p->lens4[p->nlens4++] = (uint8_t)l;
  for (int l = 128; l >= 0; l--) if (seen6[l]) p->lens6[p->nlens6++] = (uint8_t)l;
  return p;
fail:
  program_free(env, p);
  return NULL;
}

#endif
