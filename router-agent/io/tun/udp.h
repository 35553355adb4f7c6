// The batched UDP socket of udp.c, as the native fast path (fastpath.c)
// sees it: the same queue and flush the JS side uses.
#ifndef SWITCHBACK_UDP_H
#define SWITCHBACK_UDP_H

#include <node_api.h>
#include <uv.h>

#include "js-callback.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define BATCH 64           // datagrams per recvmmsg / sendmmsg call, and per wake-up
#define RECV_SIZE 65536    // larger than any UDP payload: never truncated
#define SOURCE_SIZE 24     // family(1) 0(1) port(2, BE) scope id(4, BE) address(16)
#define HOST_MAX 64        // longest address text accepted: IPv6 + '%' + interface name
#define GSO_SEGS 64        // datagrams per offloaded message (the kernel's UDP_MAX_SEGMENTS)
#define GSO_BYTES 64000    // payload per offloaded message: one IP packet's worth

struct fastpath;

typedef union {
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} addr_t;

typedef struct {
  uint8_t *data;
  uint32_t len;
  socklen_t alen;
  addr_t addr;
} entry_t;

typedef struct {
  napi_env env;
  int fd;
  int family;              // AF_INET or AF_INET6
  uv_poll_t *poll;
  int events;              // the mask the poll watcher runs with
  js_callback_t cb;        // set while reading
  bool want_write;         // EAGAIN: the queue waits for the socket to become writable
  // receive
  uint8_t *rbuf;           // BATCH * RECV_SIZE
  struct mmsghdr rmsg[BATCH];
  int rdirty;              // rmsg entries the kernel may have changed since they were last reset
  struct iovec riov[BATCH];
  addr_t raddr[BATCH];
  // send queue: a ring of copies
  entry_t *q;
  uint32_t qcap, qhead, qlen;
  size_t qbytes, qbytes_max;
  uint32_t max_payload;
  bool gso;                // segmentation offload: on until the kernel refuses it
  uint32_t gso_max;        // the largest datagram sent in offloaded runs
  bool gro;                // the kernel hands over coalesced runs (UDP_GRO)
  char rcmsg[BATCH][CMSG_SPACE(sizeof(int))];
  struct mmsghdr smsg[BATCH];
  uint32_t ssegs[BATCH];   // datagrams in each message
  struct iovec siov[BATCH * GSO_SEGS];
  char scmsg[BATCH][CMSG_SPACE(sizeof(uint16_t))];
  // the last destination parsed: a tunnel sends to few peers
  char last_host[HOST_MAX];
  addr_t last_addr;
  socklen_t last_alen;
  double *stats;
  napi_ref stats_ref;
  // The native fast path hooked to this socket (fastpath.c), or NULL: it
  // takes the datagrams it can forward before they are handed to JS.
  struct fastpath *fp;
} udp_t;

// Set on every Udp object (napi_type_tag_object), so a FastPath is never handed something else.
extern const napi_type_tag UDP_TAG;

// Queues a datagram the caller allocated with malloc(); the queue owns it
// from then on (also when refused: it is freed). Returns the queue length,
// or -ENOBUFS / -EBADF / -EINVAL.
int32_t udp_enqueue_owned(udp_t *t, const addr_t *addr, socklen_t alen, uint8_t *data, uint32_t len);
// Sends what the socket takes now (the rest when it is writable).
void udp_flush_now(udp_t *t);

#endif
