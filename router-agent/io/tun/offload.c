// TCP segmentation (reads) and coalescing (writes) for the TUN device; see
// offload.h for why. Checksums are summed in memory byte order (RFC 1071:
// the one's-complement sum does not care), so every 16-bit value added to a
// sum is first put in network order.
#include "offload.h"

#include <arpa/inet.h>
#include <string.h>

#define IPPROTO_TCP_ 6
#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

void vnet_decode(const uint8_t *b, vnet_hdr_t *h) {
  h->flags = b[0];
  h->gso_type = b[1];
  memcpy(&h->hdr_len, b + 2, 2);
  memcpy(&h->gso_size, b + 4, 2);
  memcpy(&h->csum_start, b + 6, 2);
  memcpy(&h->csum_offset, b + 8, 2);
}

void vnet_encode(const vnet_hdr_t *h, uint8_t *b) {
  b[0] = h->flags;
  b[1] = h->gso_type;
  memcpy(b + 2, &h->hdr_len, 2);
  memcpy(b + 4, &h->gso_size, 2);
  memcpy(b + 6, &h->csum_start, 2);
  memcpy(b + 8, &h->csum_offset, 2);
}

uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len) {
  while (len >= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    sum += (w & 0xffffffffu) + (w >> 32);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    memcpy(&w, p, 2);
    sum += w;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint8_t b[2] = {p[0], 0};
    uint16_t w;
    memcpy(&w, b, 2);
    sum += w;
  }
  return sum;
}

uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v; }
static void put_raw16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }

// The TCP pseudo-header sum for a segment of `tcp_len` bytes.
static uint64_t pseudo_sum(const uint8_t *ip, bool v6, size_t tcp_len) {
  uint64_t s = v6 ? csum_add(0, ip + 8, 32) : csum_add(0, ip + 12, 8);
  return s + htons(IPPROTO_TCP_) + htons((uint16_t)tcp_len);
}

static void ipv4_header_checksum(uint8_t *ip, size_t ihl) {
  ip[10] = ip[11] = 0;
  put_raw16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, ihl)));
}

// --- reads ---------------------------------------------------------------

static offload_result_t pass_on(const uint8_t *pkt, size_t len, const vnet_hdr_t *h, offload_alloc_fn alloc, void *ctx, uint32_t *count) {
  uint8_t *out = alloc(ctx, len);
  if (!out) return OFFLOAD_NO_MEMORY;
  memcpy(out, pkt, len);
  (*count)++;
  if (h->flags & VNET_F_NEEDS_CSUM) {
    // The field holds the pseudo-header sum; summing it in finishes it.
    size_t at = (size_t)h->csum_start + h->csum_offset;
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, out + h->csum_start, len - h->csum_start));
    put_raw16(out + at, c ? c : 0xffff); // 0 means "no checksum" in UDP; the same value for TCP
  }
  return OFFLOAD_OK;
}

offload_result_t offload_read(const uint8_t *buf, size_t len, offload_alloc_fn alloc, void *ctx, uint32_t *count) {
  *count = 0;
  if (len < VNET_HDR_LEN) return OFFLOAD_BAD_HEADER;
  vnet_hdr_t h;
  vnet_decode(buf, &h);
  const uint8_t *pkt = buf + VNET_HDR_LEN;
  len -= VNET_HDR_LEN;
  if ((h.flags & VNET_F_NEEDS_CSUM) &&
      ((size_t)h.csum_start + h.csum_offset + 2 > len || h.csum_start >= len)) return OFFLOAD_BAD_HEADER;
  uint8_t type = h.gso_type & (uint8_t)~VNET_GSO_ECN;
  if (type == VNET_GSO_NONE) return pass_on(pkt, len, &h, alloc, ctx, count);
  if (type != VNET_GSO_TCPV4 && type != VNET_GSO_TCPV6) return OFFLOAD_BAD_GSO;

  bool v6 = type == VNET_GSO_TCPV6;
  size_t iphl = h.csum_start; // TSO always sets it to the TCP header's offset
  if (!(h.flags & VNET_F_NEEDS_CSUM) || h.csum_offset != 16 || iphl < (v6 ? 40u : 20u) ||
      len < iphl + 20 || (pkt[0] >> 4) != (v6 ? 6 : 4) || h.gso_size == 0) return OFFLOAD_BAD_GSO;
  // hdr_len is not to be trusted: on the forwarding path the kernel reports
  // the whole linear part of the buffer. The TCP header says its length.
  size_t tcphl = (size_t)(pkt[iphl + 12] >> 4) * 4;
  size_t hdrl = iphl + tcphl;
  if (tcphl < 20 || hdrl > len) return OFFLOAD_BAD_GSO;
  size_t payload = len - hdrl;
  if (payload <= h.gso_size) {
    // Nothing to cut (the kernel may still mark it GSO); finish the checksum.
    return pass_on(pkt, len, &h, alloc, ctx, count);
  }
  uint32_t seq = get32(pkt + iphl + 4);
  uint16_t id = v6 ? 0 : get16(pkt + 4);
  uint8_t flags = pkt[iphl + 13];
  uint64_t addr_sum = v6 ? csum_add(0, pkt + 8, 32) : csum_add(0, pkt + 12, 8);
  for (size_t off = 0, i = 0; off < payload; off += h.gso_size, i++) {
    size_t seg = payload - off < h.gso_size ? payload - off : h.gso_size;
    bool last = off + seg == payload;
    uint8_t *out = alloc(ctx, hdrl + seg);
    if (!out) return OFFLOAD_NO_MEMORY;
    memcpy(out, pkt, hdrl);
    memcpy(out + hdrl, pkt + hdrl + off, seg);
    if (v6) {
      put16(out + 4, (uint16_t)(hdrl + seg - 40));
    } else {
      put16(out + 2, (uint16_t)(hdrl + seg));
      put16(out + 4, (uint16_t)(id + i)); // what the kernel's own segmentation does
      ipv4_header_checksum(out, iphl);
    }
    uint8_t *tcp = out + iphl;
    put32(tcp + 4, seq + (uint32_t)off);
    uint8_t f = flags;
    if (!last) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= (uint8_t)~TCP_CWR;
    tcp[13] = f;
    tcp[16] = tcp[17] = 0;
    uint64_t s = addr_sum + htons(IPPROTO_TCP_) + htons((uint16_t)(tcphl + seg));
    put_raw16(tcp + 16, (uint16_t)~csum_fold(csum_add(s, tcp, tcphl + seg)));
    (*count)++;
  }
  return OFFLOAD_OK;
}

// --- writes --------------------------------------------------------------

typedef struct {
  bool tcp;       // an unfragmented TCP packet whose ports are known
  bool candidate; // may be coalesced (before the checksum check)
  bool v6;
  uint8_t iphl;
  uint8_t tcphl;
  uint8_t flags;
  uint32_t seq;
  uint32_t ack;
  size_t payload;
} tcp_info_t;

static void parse(const uint8_t *p, size_t len, tcp_info_t *t) {
  memset(t, 0, sizeof *t);
  size_t iphl;
  bool plain_header; // no IPv4 options / IPv6 extension headers
  if (len >= 20 && (p[0] >> 4) == 4) {
    iphl = (size_t)(p[0] & 0x0f) * 4;
    if (p[9] != IPPROTO_TCP_ || iphl < 20 || get16(p + 2) != len) return;
    if ((p[6] & 0x3f) || p[7]) return; // a fragment (MF or an offset): ports are not all here
    plain_header = iphl == 20;
  } else if (len >= 40 && (p[0] >> 4) == 6) {
    iphl = 40;
    if (p[6] != IPPROTO_TCP_ || get16(p + 4) != len - 40) return;
    t->v6 = true;
    plain_header = true;
  } else {
    return;
  }
  if (len < iphl + 20) return;
  size_t tcphl = (size_t)(p[iphl + 12] >> 4) * 4;
  if (tcphl < 20 || len < iphl + tcphl) return;
  t->tcp = true;
  t->iphl = (uint8_t)iphl;
  t->tcphl = (uint8_t)tcphl;
  t->flags = p[iphl + 13];
  t->seq = get32(p + iphl + 4);
  t->ack = get32(p + iphl + 8);
  t->payload = len - iphl - tcphl;
  t->candidate = plain_header && t->payload > 0 && (t->flags == TCP_ACK || t->flags == (TCP_ACK | TCP_PSH));
}

// The TCP checksum and, for IPv4, the header checksum: a packet the kernel
// would drop must not be repaired by being merged and resegmented.
static bool checksum_valid(const uint8_t *p, size_t len, const tcp_info_t *t) {
  if (!t->v6 && csum_fold(csum_add(0, p, t->iphl)) != 0xffff) return false;
  uint64_t s = pseudo_sum(p, t->v6, len - t->iphl);
  return csum_fold(csum_add(s, p + t->iphl, len - t->iphl)) == 0xffff;
}

// Same connection: addresses and ports.
static bool same_flow(const uint8_t *a, const uint8_t *b, const tcp_info_t *ta, const tcp_info_t *tb) {
  if (ta->v6 != tb->v6) return false;
  bool addrs = ta->v6 ? memcmp(a + 8, b + 8, 32) == 0 : memcmp(a + 12, b + 12, 8) == 0;
  return addrs && memcmp(a + ta->iphl, b + tb->iphl, 4) == 0;
}

// Header fields that must agree for the kernel to resegment into the same packets.
static bool same_headers(const uint8_t *a, const uint8_t *b, const tcp_info_t *ta, const tcp_info_t *tb) {
  if (ta->tcphl != tb->tcphl || ta->ack != tb->ack) return false;
  if (ta->v6) {
    if (a[0] != b[0] || (a[1] >> 4) != (b[1] >> 4) || a[7] != b[7]) return false; // traffic class, hop limit
  } else {
    if (a[1] != b[1] || (a[6] >> 5) != (b[6] >> 5) || a[8] != b[8]) return false; // TOS, DF, TTL
  }
  size_t opts = ta->tcphl - 20u;
  return opts == 0 || memcmp(a + ta->iphl + 20, b + tb->iphl + 20, opts) == 0;
}

typedef struct {
  uint32_t head;
  uint32_t last;
  uint32_t count;
  uint32_t next_seq;
  size_t gso_size;
  size_t total; // bytes of the super-packet
  bool open;    // may still take packets
  bool psh;
  bool head_checked;
} group_t;

#define MAX_OPEN 64 // flows tracked at once in one batch; beyond that packets go alone

uint32_t offload_coalesce(const span_t *pkts, uint32_t n, uint32_t *next, coalesced_t *out) {
  group_t groups[MAX_OPEN];
  tcp_info_t ginfo[MAX_OPEN];
  uint32_t ngroups = 0;
  uint32_t nout = 0;
  // role[i]: 1 + the group packet i heads, 0 when it is written alone, NOT_HEAD when it joined a group.
  static const uint32_t NOT_HEAD = UINT32_MAX;
  uint32_t role[COALESCE_BATCH_MAX];
  if (n > COALESCE_BATCH_MAX) n = COALESCE_BATCH_MAX; // the caller splits larger batches
  for (uint32_t i = 0; i < n; i++) next[i] = UINT32_MAX;

  // Pass 1: decide the groups. A packet either joins the open group of its
  // flow or becomes the head of a write of its own (which may open a group).
  // Any other packet of a flow closes that flow's group, so no packet of a
  // connection is ever written before one that came ahead of it.
  for (uint32_t i = 0; i < n; i++) {
    role[i] = 0;
    const uint8_t *p = pkts[i].data;
    size_t len = pkts[i].len;
    tcp_info_t t;
    parse(p, len, &t);
    if (!t.tcp) continue;
    // Find this flow's open group.
    int32_t g = -1;
    for (uint32_t k = 0; k < ngroups; k++) {
      if (groups[k].open && same_flow(pkts[groups[k].head].data, p, &ginfo[k], &t)) {
        g = (int32_t)k;
        break;
      }
    }
    if (g >= 0) {
      group_t *gr = &groups[g];
      const uint8_t *hp = pkts[gr->head].data;
      // IPv4 IDs must count up from the head's: the kernel resegments with head ID + i.
      bool fits = t.candidate && t.seq == gr->next_seq && t.payload <= gr->gso_size && gr->count < COALESCE_MAX_SEGS &&
                  gr->total + t.payload <= 65535 && same_headers(hp, p, &ginfo[g], &t) &&
                  (t.v6 || get16(p + 4) == (uint16_t)(get16(hp + 4) + gr->count));
      if (fits && !gr->head_checked) {
        gr->head_checked = true;
        if (!checksum_valid(hp, pkts[gr->head].len, &ginfo[g])) fits = false;
      }
      if (fits && checksum_valid(p, len, &t)) {
        next[gr->last] = i;
        gr->last = i;
        gr->count++;
        gr->total += t.payload;
        gr->next_seq += (uint32_t)t.payload;
        role[i] = NOT_HEAD;
        if (t.flags & TCP_PSH) gr->psh = true;
        if (gr->psh || t.payload < gr->gso_size) gr->open = false;
        continue;
      }
      gr->open = false; // this packet goes after everything in the group
    }
    if (!t.candidate || ngroups == MAX_OPEN) continue;
    group_t *gr = &groups[ngroups];
    ginfo[ngroups] = t;
    gr->head = gr->last = i;
    gr->count = 1;
    gr->next_seq = t.seq + (uint32_t)t.payload;
    gr->gso_size = t.payload;
    gr->total = len;
    gr->psh = (t.flags & TCP_PSH) != 0;
    gr->open = !gr->psh;
    gr->head_checked = false;
    role[i] = ++ngroups;
  }

  // Pass 2: the writes, in the order of their first packet.
  for (uint32_t i = 0; i < n; i++) {
    if (role[i] == NOT_HEAD) continue;
    coalesced_t *o = &out[nout++];
    memset(o->vnet, 0, VNET_HDR_LEN);
    o->head = i;
    o->count = 1;
    o->hdr_len = 0;
    if (role[i] == 0 || groups[role[i] - 1].count == 1) continue;
    group_t *gr = &groups[role[i] - 1];
    tcp_info_t *t = &ginfo[role[i] - 1];
    const uint8_t *p = pkts[i].data;
    size_t hdrl = (size_t)t->iphl + t->tcphl;
    o->count = gr->count;
    o->hdr_len = (uint16_t)hdrl;
    memcpy(o->hdr, p, hdrl);
    uint8_t *ip = o->hdr;
    if (t->v6) {
      put16(ip + 4, (uint16_t)(gr->total - 40));
    } else {
      put16(ip + 2, (uint16_t)gr->total);
      ipv4_header_checksum(ip, t->iphl);
    }
    uint8_t *tcp = ip + t->iphl;
    if (gr->psh) tcp[13] |= TCP_PSH;
    // CHECKSUM_PARTIAL: the field holds the pseudo-header sum, not inverted.
    put_raw16(tcp + 16, csum_fold(pseudo_sum(ip, t->v6, gr->total - t->iphl)));
    vnet_hdr_t h = {
        .flags = VNET_F_NEEDS_CSUM,
        .gso_type = t->v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4,
        .hdr_len = (uint16_t)hdrl,
        .gso_size = (uint16_t)gr->gso_size,
        .csum_start = t->iphl,
        .csum_offset = 16,
    };
    vnet_encode(&h, o->vnet);
  }
  return nout;
}
