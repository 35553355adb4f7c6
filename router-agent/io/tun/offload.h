// TCP segmentation and coalescing for a TUN device opened with IFF_VNET_HDR
// and TSO offloads (tun.c). Pure byte work, no N-API and no system calls, so
// it can be exercised directly (the addon exports it for tests).
//
// Why: without offloads the kernel cuts every TCP burst into MTU-sized
// packets before our read() and we hand it back one packet per write(): one
// system call and one pass through the kernel's forwarding and TCP receive
// path per 1,400 bytes. With offloads one read brings up to 64 KB of one
// flow (split here into the packets the tunnel carries), and the packets of
// a flow decrypted in one batch go back to the kernel as one write with a
// virtio_net_hdr telling it how to segment them, as GRO would have built
// them. The same idea, in Go, is wireguard-go's tun/tcp_offload_linux.go.
#ifndef SWITCHBACK_OFFLOAD_H
#define SWITCHBACK_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// struct virtio_net_hdr (linux/virtio_net.h), host byte order as TUN uses it
// unless TUNSETVNETLE/BE is set.
#define VNET_HDR_LEN 10
#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV4 1
#define VNET_GSO_TCPV6 4
#define VNET_GSO_ECN 0x80

typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} vnet_hdr_t;

void vnet_decode(const uint8_t *b, vnet_hdr_t *h);
void vnet_encode(const vnet_hdr_t *h, uint8_t *b);

// What offload_read found wrong with a packet the kernel handed over.
typedef enum { OFFLOAD_OK = 0, OFFLOAD_BAD_HEADER, OFFLOAD_BAD_GSO, OFFLOAD_NO_MEMORY } offload_result_t;

// Memory for one output packet of `len` bytes, or NULL.
typedef uint8_t *(*offload_alloc_fn)(void *ctx, size_t len);

// Turns one read (virtio_net_hdr + packet, `len` bytes in all) into
// ready-to-tunnel IP packets with complete checksums: a TSO super-packet is
// cut into gso_size segments, a packet with only a partial checksum gets the
// checksum finished, anything else is passed on unchanged. `*count` is the
// number of packets produced (also on failure: the ones produced so far).
offload_result_t offload_read(const uint8_t *buf, size_t len, offload_alloc_fn alloc, void *ctx, uint32_t *count);

#define COALESCE_MAX_SEGS 64   // packets per written super-packet
#define COALESCE_BATCH_MAX 256 // packets per offload_coalesce call
#define COALESCE_MAX_HDR 120 // IPv6 (40) + TCP with options (60), rounded up

// One write towards the device: packet `head`, followed in order by
// next[head], next[next[head]], ... (`count` packets). When count > 1 the
// write is vnet, then hdr (the head's headers rewritten for the whole), then
// every member's TCP payload; when count == 1, vnet (all zero) then the
// packet unchanged.
typedef struct {
  uint32_t head;
  uint32_t count;
  uint16_t hdr_len;
  uint8_t vnet[VNET_HDR_LEN];
  uint8_t hdr[COALESCE_MAX_HDR];
} coalesced_t;

typedef struct {
  const uint8_t *data;
  size_t len;
} span_t;

// Groups the packets of one batch into writes, in an order that keeps every
// TCP connection's packets in their original order: consecutive in-sequence
// data segments of one flow (same addresses, ports, ACK, header fields, TCP
// options; IPv4 IDs counting up; valid checksums; only ACK or ACK|PSH set;
// all of gso size but the last) become one super-packet, which the kernel
// cuts back into exactly those packets; everything else is written as it came.
// `next` and `out` have room for n entries (n <= COALESCE_BATCH_MAX); returns
// the number of writes, which cover packets 0..n-1 exactly once.
uint32_t offload_coalesce(const span_t *pkts, uint32_t n, uint32_t *next, coalesced_t *out);

// The Internet checksum helpers, exported for tun.c.
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len);
uint16_t csum_fold(uint64_t sum);

#endif
