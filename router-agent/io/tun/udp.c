// Batched UDP for the router agent's underlay (N-API, C). `dgram` makes one
// recvmsg and one JS callback per received datagram and one libuv request
// and sendmsg per sent one; at tunnel rates those per-packet syscalls are
// the agent's largest cost. Here:
// - receive: a libuv poll watcher on the JS thread; per wake-up one
//   recvmmsg of up to BATCH messages, handed to ONE JS callback as
//   (payloads: Buffer[], sources: Buffer, errno) with the sources packed
//   SOURCE_SIZE bytes each (see pack_source); with offload on, the kernel
//   may coalesce a run of datagrams from one sender into one message
//   (UDP_GRO), which is cut apart here;
// - send: queue() copies a datagram into a bounded native queue, flush()
//   hands the whole queue to sendmmsg. When the socket buffer is full
//   (EAGAIN) the rest stays queued and is sent when the socket is writable
//   (as libuv does for dgram): dropping there would turn a momentary burst
//   into TCP retransmissions. The bound (entries and bytes) makes further
//   queue() calls fail instead, and the caller counts them as drops.
//
// Setup failures throw an Error with `code` (errno name), `errno` and
// `syscall`. The packet path never throws: queue() returns -errno for a
// datagram it refuses, send errors are counted in `stats`.
#define NAPI_VERSION 8
#ifndef _GNU_SOURCE
#define _GNU_SOURCE // recvmmsg, sendmmsg
#endif
#include <node_api.h>
#include <uv.h>

#include "js-callback.h"
#include "napi-errors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>


// Indexes into the Float64Array `stats` shared with JS (read without a call).
enum {
  ST_TX_PACKETS, ST_TX_BYTES, ST_TX_ERRORS, ST_TX_DROPPED, ST_QUEUED, ST_TX_WAITS, ST_RX_TRUNCATED,
  ST_GSO_MESSAGES, // messages that carried more than one datagram
  ST_GSO_OFF,      // the errno that turned offload off, 0 while on
  ST_TX_LAST_ERRNO, // of the last datagram the kernel refused
  ST_RX_COALESCED, // received messages that held several datagrams (UDP_GRO)
  ST_COUNT
};

#include "udp.h"
#include "fastpath.h"

const napi_type_tag UDP_TAG = {0x4f1d2c3b5a697887ULL, 0x1029384756afbecdULL};


static udp_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv, napi_value *self_out) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "EINVAL", "not a Udp object");
    return NULL;
  }
  if (self_out) *self_out = self;
  return (udp_t *)data;
}

// Address text (with an optional '%scope' for IPv6) to a socket address of
// the socket's family; false for anything else.
static bool parse_addr(int family, const char *host, uint16_t port, addr_t *out, socklen_t *alen) {
  memset(out, 0, sizeof *out);
  if (family == AF_INET) {
    out->v4.sin_family = AF_INET;
    out->v4.sin_port = htons(port);
    *alen = sizeof out->v4;
    return inet_pton(AF_INET, host, &out->v4.sin_addr) == 1;
  }
  char text[HOST_MAX];
  snprintf(text, sizeof text, "%s", host);
  char *pct = strchr(text, '%');
  if (pct) *pct++ = 0;
  out->v6.sin6_family = AF_INET6;
  out->v6.sin6_port = htons(port);
  *alen = sizeof out->v6;
  if (inet_pton(AF_INET6, text, &out->v6.sin6_addr) != 1) return false;
  if (pct) {
    if (!*pct) return false;
    char *end = NULL;
    unsigned long id = strtoul(pct, &end, 10);
    if (*end) id = if_nametoindex(pct);
    if (id == 0 || id > UINT32_MAX) return false;
    out->v6.sin6_scope_id = (uint32_t)id;
  }
  return true;
}

static void pack_source(uint8_t *rec, const addr_t *a) {
  memset(rec, 0, SOURCE_SIZE);
  if (a->sa.sa_family == AF_INET) {
    rec[0] = 4;
    memcpy(rec + 2, &a->v4.sin_port, 2);
    memcpy(rec + 8, &a->v4.sin_addr, 4);
  } else if (a->sa.sa_family == AF_INET6) {
    rec[0] = 6;
    memcpy(rec + 2, &a->v6.sin6_port, 2);
    uint32_t scope = htonl(a->v6.sin6_scope_id);
    memcpy(rec + 4, &scope, 4);
    memcpy(rec + 8, &a->v6.sin6_addr, 16);
  }
}

static void on_io(uv_poll_t *h, int status, int events);

// Runs the poll watcher with what is wanted now: readable while a callback
// is set, writable while the queue waits.
static void update_poll(udp_t *t) {
  if (!t->poll) return;
  int ev = (js_callback_active(&t->cb) ? UV_READABLE : 0) | (t->want_write ? UV_WRITABLE : 0);
  if (ev == t->events) return;
  t->events = ev;
  if (ev == 0) uv_poll_stop(t->poll);
  else uv_poll_start(t->poll, ev, on_io);
}

static void pop(udp_t *t, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    entry_t *e = &t->q[t->qhead];
    t->qbytes -= e->len;
    free(e->data);
    e->data = NULL;
    t->qhead = (t->qhead + 1) % t->qcap;
    t->qlen--;
  }
  if (t->stats) t->stats[ST_QUEUED] = t->qlen;
}

static bool same_dest(const entry_t *a, const entry_t *b) {
  return a->alen == b->alen && memcmp(&a->addr, &b->addr, a->alen) == 0;
}

// Sends as much of the queue as the socket takes now. Returns the number
// sent; sets want_write when the socket buffer is full.
//
// With segmentation offload (UDP_SEGMENT) a run of datagrams to one
// destination, all of one size but the last, which may be shorter, leaves as
// ONE message: the stack is walked once for the run and the datagrams are cut
// apart at the device (or in software just before it). On the wire they are
// the same datagrams. A run the kernel refuses is sent again datagram by
// datagram: EMSGSIZE or EINVAL (larger than the path MTU) lowers the size
// offloaded, EIO (a device that cannot checksum it) turns offload off.
static uint32_t flush_queue(udp_t *t) {
  uint32_t sent = 0;
  bool single_head = false;
  t->want_write = false;
  while (t->qlen > 0 && t->fd >= 0) {
    uint32_t n = 0, taken = 0, i = t->qhead;
    while (n < BATCH && taken < t->qlen) {
      entry_t *first = &t->q[i];
      uint32_t segs = 1, bytes = first->len;
      t->siov[taken].iov_base = first->data;
      t->siov[taken].iov_len = first->len;
      struct iovec *iov = &t->siov[taken];
      i = (i + 1) % t->qcap;
      if (t->gso && first->len <= t->gso_max && !(single_head && n == 0)) {
        while (segs < GSO_SEGS && taken + segs < t->qlen) {
          entry_t *e = &t->q[i];
          if (e->len > first->len || bytes + e->len > GSO_BYTES || !same_dest(first, e)) break;
          t->siov[taken + segs].iov_base = e->data;
          t->siov[taken + segs].iov_len = e->len;
          segs++;
          bytes += e->len;
          i = (i + 1) % t->qcap;
          if (e->len < first->len) break; // a shorter one closes the run
        }
      }
      struct msghdr *h = &t->smsg[n].msg_hdr;
      memset(&t->smsg[n], 0, sizeof t->smsg[n]);
      h->msg_name = &first->addr;
      h->msg_namelen = first->alen;
      h->msg_iov = iov;
      h->msg_iovlen = segs;
      if (segs > 1) {
        h->msg_control = t->scmsg[n];
        h->msg_controllen = sizeof t->scmsg[n];
        struct cmsghdr *c = CMSG_FIRSTHDR(h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = (uint16_t)first->len;
        memcpy(CMSG_DATA(c), &size, sizeof size);
      }
      t->ssegs[n++] = segs;
      taken += segs;
    }
    // One message goes by sendmsg: sendmmsg yields the CPU (cond_resched)
    // after each message, which puts the peer just woken by this very
    // datagram ahead of us on a busy machine.
    int r;
    if (n == 1) {
      ssize_t w = sendmsg(t->fd, &t->smsg[0].msg_hdr, 0);
      if (w >= 0) t->smsg[0].msg_len = (unsigned)w;
      r = w < 0 ? -1 : 1;
    } else {
      r = sendmmsg(t->fd, t->smsg, n, 0);
    }
    single_head = false;
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        t->want_write = true;
        if (t->stats) t->stats[ST_TX_WAITS]++;
        break;
      }
      if (t->ssegs[0] > 1) {
        // A refused run is never dropped: it goes again datagram by datagram.
        if (errno == EIO || errno == EOPNOTSUPP) {
          t->gso = false;
          if (t->stats) t->stats[ST_GSO_OFF] = errno;
        } else if (errno == EMSGSIZE || errno == EINVAL) {
          // Larger than the path MTU (the kernel does not fragment offloaded
          // runs): datagrams this size and above go one by one from now on.
          t->gso_max = t->q[t->qhead].len - 1;
        } else {
          single_head = true; // e.g. unreachable: the datagram's own error, counted below
        }
        continue;
      }
      // The first datagram was refused (EMSGSIZE, ENETUNREACH, EPERM from a
      // firewall, ...): count it and go on with the next.
      if (t->stats) {
        t->stats[ST_TX_ERRORS]++;
        t->stats[ST_TX_LAST_ERRNO] = errno;
      }
      pop(t, 1);
      continue;
    }
    uint32_t done = 0;
    for (int k = 0; k < r; k++) {
      done += t->ssegs[k];
      if (t->stats) {
        t->stats[ST_TX_BYTES] += t->smsg[k].msg_len;
        if (t->ssegs[k] > 1) t->stats[ST_GSO_MESSAGES]++;
      }
    }
    if (t->stats) t->stats[ST_TX_PACKETS] += done;
    sent += done;
    pop(t, done);
  }
  update_poll(t);
  return sent;
}

int32_t udp_enqueue_owned(udp_t *t, const addr_t *addr, socklen_t alen, uint8_t *data, uint32_t len) {
  int32_t r;
  if (t->fd < 0) r = -EBADF;
  else if (len == 0 || len > t->max_payload) r = -EINVAL;
  else if (t->qlen >= t->qcap || t->qbytes + len > t->qbytes_max) r = -ENOBUFS;
  else {
    entry_t *e = &t->q[(t->qhead + t->qlen) % t->qcap];
    e->addr = *addr;
    e->alen = alen;
    e->data = data;
    e->len = len;
    t->qlen++;
    t->qbytes += len;
    if (t->stats) t->stats[ST_QUEUED] = t->qlen;
    return (int32_t)t->qlen;
  }
  free(data);
  return r;
}

void udp_flush_now(udp_t *t) {
  if (t->fd >= 0 && !t->want_write && t->qlen > 0) flush_queue(t);
}

static void on_poll_closed(uv_handle_t *h) { free(h); }


// `flush`: send what the socket takes now before closing (false at process
// teardown). What is left is counted as dropped.
static void close_socket(udp_t *t, bool flush) {
  if (flush && t->fd >= 0 && t->qlen > 0) flush_queue(t);
  if (t->stats) t->stats[ST_TX_DROPPED] += t->qlen;
  if (t->q) pop(t, t->qlen);
  js_callback_release(&t->cb);
  if (t->poll) {
    uv_poll_stop(t->poll);
    uv_close((uv_handle_t *)t->poll, on_poll_closed);
    t->poll = NULL;
  }
  t->want_write = false;
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
}

static void env_cleanup(void *arg) {
  udp_t *t = (udp_t *)arg;
  t->stats = NULL; // JS memory is going away with the environment
  close_socket(t, false);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  udp_t *t = (udp_t *)data;
  close_socket(t, false);
  napi_remove_env_cleanup_hook(env, env_cleanup, t);
  if (t->stats_ref) napi_delete_reference(env, t->stats_ref);
  free(t->q);
  free(t->rbuf);
  free(t);
}

// Calls cb(payloads: Buffer[], sources: Buffer, errno: number). An exception
// thrown by the callback goes to process 'uncaughtException', as for any I/O
// callback (the TS port catches its handler's exceptions itself).
static void deliver(udp_t *t, napi_value payloads, napi_value sources, int err) {
  napi_value argv[3] = {payloads, sources, NULL};
  napi_create_int32(t->env, err, &argv[2]);
  js_callback_call(&t->cb, 3, argv);
}

// The segment size of a coalesced message (UDP_GRO), or 0.
static uint32_t gro_size(struct msghdr *h) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int size;
      memcpy(&size, CMSG_DATA(c), sizeof size);
      return size > 0 ? (uint32_t)size : 0;
    }
  }
  return 0;
}

static void receive_batch(udp_t *t) {
  napi_env env = t->env;
  // Only the headers the last call used (and the one it stopped at) were
  // changed by the kernel: resetting all BATCH of them would touch 4 KB on
  // every wake-up, cold after an idle spell.
  int dirty = t->rdirty;
  for (int i = 0; i < dirty; i++) {
    t->rmsg[i].msg_hdr.msg_namelen = sizeof t->raddr[i];
    t->rmsg[i].msg_hdr.msg_control = t->gro ? t->rcmsg[i] : NULL;
    t->rmsg[i].msg_hdr.msg_controllen = t->gro ? sizeof t->rcmsg[i] : 0;
    t->rmsg[i].msg_hdr.msg_flags = 0;
    t->rmsg[i].msg_len = 0;
  }
  int r;
  do r = recvmmsg(t->fd, t->rmsg, BATCH, MSG_DONTWAIT, NULL);
  while (r < 0 && errno == EINTR);
  int err = 0;
  t->rdirty = r < 0 ? 1 : (r < BATCH ? r + 1 : BATCH);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    err = errno;
    r = 0;
  }
  // A coalesced message (UDP_GRO) holds datagrams of its segment size, the
  // last one possibly shorter: each becomes its own payload, as if received
  // one by one.
  uint32_t seg[BATCH], total = 0;
  for (int i = 0; i < r; i++) {
    uint32_t len = t->rmsg[i].msg_len;
    seg[i] = t->gro ? gro_size(&t->rmsg[i].msg_hdr) : 0;
    if (seg[i] >= len) seg[i] = 0;
    total += seg[i] ? (len + seg[i] - 1) / seg[i] : 1;
  }
  // JS objects are made only for datagrams the fast path leaves to JS: a
  // wake-up it handles whole never enters the JS engine.
  napi_handle_scope scope = NULL;
  napi_value payloads = NULL, sources = NULL;
  uint8_t *src = NULL;
  uint32_t n = 0;
  for (int i = 0; i < r; i++) {
    if (t->rmsg[i].msg_hdr.msg_flags & MSG_TRUNC) {
      if (t->stats) t->stats[ST_RX_TRUNCATED]++;
      continue;
    }
    const uint8_t *data = t->rbuf + (size_t)i * RECV_SIZE;
    uint32_t len = t->rmsg[i].msg_len, step = seg[i] ? seg[i] : len;
    if (seg[i] && t->stats) t->stats[ST_RX_COALESCED]++;
    uint32_t off = 0;
    do {
      uint32_t l = len - off < step ? len - off : step;
      if (t->fp && fastpath_from_underlay(t->fp, data + off, l)) {
        off += l;
        continue;
      }
      if (!scope) {
        napi_open_handle_scope(env, &scope);
        napi_create_array(env, &payloads); // exactly the payloads made, should a copy fail
        napi_create_buffer(env, (size_t)total * SOURCE_SIZE, (void **)&src, &sources);
      }
      napi_value b;
      if (napi_create_buffer_copy(env, l, data + off, NULL, &b) != napi_ok) break;
      napi_set_element(env, payloads, n, b);
      pack_source(src + (size_t)n * SOURCE_SIZE, &t->raddr[i]);
      n++;
      off += l;
    } while (off < len);
  }
  // What the fast path decrypted goes to the TUN now, ahead of anything JS
  // will decide about the rest.
  if (t->fp) fastpath_flush(t->fp);
  // Errors a UDP socket reports on receive (an ICMP error queued on it) are
  // passed on once and reading goes on; a socket that is broken for good
  // would wake us forever, so those stop the watcher.
  if (err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL) {
    if (t->poll) uv_poll_stop(t->poll);
    t->events = 0;
  }
  if (n > 0 || err) {
    if (!scope) {
      napi_open_handle_scope(env, &scope);
      napi_create_array(env, &payloads);
      napi_create_buffer(env, 0, NULL, &sources);
    }
    deliver(t, payloads, sources, err);
  }
  if (scope) napi_close_handle_scope(env, scope);
}

static void on_io(uv_poll_t *h, int status, int events) {
  udp_t *t = (udp_t *)h->data;
  if (status < 0) {
    uv_poll_stop(h);
    t->events = 0;
    if (js_callback_active(&t->cb)) {
      napi_handle_scope scope;
      napi_open_handle_scope(t->env, &scope);
      napi_value payloads, sources;
      napi_create_array(t->env, &payloads);
      napi_create_buffer(t->env, 0, NULL, &sources);
      deliver(t, payloads, sources, -status);
      napi_close_handle_scope(t->env, scope);
    }
    return;
  }
  if ((events & UV_WRITABLE) && t->want_write) flush_queue(t);
  if ((events & UV_READABLE) && js_callback_active(&t->cb) && t->fd >= 0) receive_batch(t);
}

static bool get_int(napi_env env, napi_value v, int64_t min, int64_t max, int64_t *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d || d < (double)min || d > (double)max) return false;
  *out = (int64_t)d;
  return true;
}

static void set_buffer(int fd, int force_opt, int opt, int size) {
  // As root FORCE passes net.core.[rw]mem_max; elsewhere it fails with EPERM
  // and the plain option gets what the limit allows.
  if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof size) == 0) return;
  setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
}

// new Udp(family: 4 | 6, address: string, port: number, recvBuffer: number,
//         sendBuffer: number, maxQueue: number, maxQueueBytes: number, maxPayload: number,
//         segmentationOffload: boolean)
static napi_value udp_new(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9], self;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  int64_t fam, port, rcv, snd, maxq, maxqb, maxp;
  char host[HOST_MAX];
  size_t hlen = 0;
  bool gso = false;
  if (argc < 9 || napi_get_value_bool(env, argv[8], &gso) != napi_ok || !get_int(env, argv[0], 4, 6, &fam) || (fam != 4 && fam != 6) ||
      napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hlen) != napi_ok || hlen >= HOST_MAX - 1 || strlen(host) != hlen ||
      !get_int(env, argv[2], 0, 65535, &port) || !get_int(env, argv[3], 0, INT32_MAX, &rcv) ||
      !get_int(env, argv[4], 0, INT32_MAX, &snd) || !get_int(env, argv[5], 1, 1 << 20, &maxq) ||
      !get_int(env, argv[6], 1, (int64_t)1 << 40, &maxqb) || !get_int(env, argv[7], 1, 65535, &maxp)) {
    napi_throw_type_error(env, "EINVAL", "new Udp(family, address, port, recvBuffer, sendBuffer, maxQueue, maxQueueBytes, maxPayload, segmentationOffload)");
    return NULL;
  }
  int family = fam == 4 ? AF_INET : AF_INET6;
  addr_t addr;
  socklen_t alen;
  if (!parse_addr(family, host, (uint16_t)port, &addr, &alen)) return throw_errno(env, EINVAL, "inet_pton", NULL);

  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", NULL);
  if (rcv > 0) set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, (int)rcv);
  if (snd > 0) set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, (int)snd);
  if (bind(fd, &addr.sa, alen) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind", NULL);
  }
  udp_t *t = calloc(1, sizeof *t);
  uint8_t *rbuf = malloc((size_t)BATCH * RECV_SIZE);
  entry_t *q = calloc((size_t)maxq, sizeof *q);
  uv_poll_t *p = malloc(sizeof *p);
  uv_loop_t *loop = NULL;
  if (!t || !rbuf || !q || !p || napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, p, fd) < 0) {
    free(t);
    free(rbuf);
    free(q);
    free(p);
    close(fd);
    return throw_errno(env, ENOMEM, "Udp", NULL);
  }
  t->env = env;
  t->cb.env = env;
  t->fd = fd;
  t->family = family;
  t->rbuf = rbuf;
  t->q = q;
  t->qcap = (uint32_t)maxq;
  t->qbytes_max = (size_t)maxqb;
  t->max_payload = (uint32_t)maxp;
  int zero = 0; // a kernel without UDP_SEGMENT (before 4.18) refuses the option
  t->gso = gso && setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0;
  t->gso_max = GSO_BYTES / 2;
  int one = 1;
  t->gro = gso && setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
  p->data = t;
  t->poll = p;
  for (int i = 0; i < BATCH; i++) {
    t->riov[i].iov_base = rbuf + (size_t)i * RECV_SIZE;
    t->riov[i].iov_len = RECV_SIZE;
    t->rmsg[i].msg_hdr.msg_name = &t->raddr[i];
    t->rmsg[i].msg_hdr.msg_iov = &t->riov[i];
    t->rmsg[i].msg_hdr.msg_iovlen = 1;
  }
  t->rdirty = BATCH; // the first receive sets every header up
  napi_value ab, stats;
  void *sdata = NULL;
  if (napi_create_arraybuffer(env, ST_COUNT * sizeof(double), &sdata, &ab) != napi_ok ||
      napi_create_typedarray(env, napi_float64_array, ST_COUNT, ab, 0, &stats) != napi_ok ||
      napi_create_reference(env, ab, 1, &t->stats_ref) != napi_ok ||
      napi_set_named_property(env, self, "stats", stats) != napi_ok || napi_type_tag_object(env, self, &UDP_TAG) != napi_ok ||
      napi_wrap(env, self, t, finalize, NULL, NULL) != napi_ok) {
    if (t->stats_ref) napi_delete_reference(env, t->stats_ref);
    close_socket(t, false);
    free(q);
    free(rbuf);
    free(t);
    throw_status(env, "Udp");
    return NULL;
  }
  t->stats = (double *)sdata;
  memset(t->stats, 0, ST_COUNT * sizeof(double));
  napi_add_env_cleanup_hook(env, env_cleanup, t);
  return self;
}

// local(): [address: string, port: number]
static napi_value udp_local(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  udp_t *t = unwrap(env, info, &argc, NULL, NULL);
  if (!t) return NULL;
  if (t->fd < 0) return throw_errno(env, EBADF, "getsockname", NULL);
  addr_t a;
  socklen_t alen = sizeof a;
  if (getsockname(t->fd, &a.sa, &alen) < 0) return throw_errno(env, errno, "getsockname", NULL);
  char text[INET6_ADDRSTRLEN];
  uint16_t port;
  if (a.sa.sa_family == AF_INET) {
    inet_ntop(AF_INET, &a.v4.sin_addr, text, sizeof text);
    port = ntohs(a.v4.sin_port);
  } else {
    inet_ntop(AF_INET6, &a.v6.sin6_addr, text, sizeof text);
    port = ntohs(a.v6.sin6_port);
  }
  napi_value arr, h, p;
  CHECK(env, napi_create_array_with_length(env, 2, &arr));
  CHECK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &h));
  CHECK(env, napi_create_uint32(env, port, &p));
  napi_set_element(env, arr, 0, h);
  napi_set_element(env, arr, 1, p);
  return arr;
}

// bufferSizes(): [recv: number, send: number], as the kernel granted them.
static napi_value udp_buffer_sizes(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  udp_t *t = unwrap(env, info, &argc, NULL, NULL);
  if (!t) return NULL;
  int r = 0, s = 0;
  socklen_t l = sizeof r;
  if (t->fd < 0) return throw_errno(env, EBADF, "getsockopt", NULL);
  if (getsockopt(t->fd, SOL_SOCKET, SO_RCVBUF, &r, &l) < 0) return throw_errno(env, errno, "getsockopt SO_RCVBUF", NULL);
  l = sizeof s;
  if (getsockopt(t->fd, SOL_SOCKET, SO_SNDBUF, &s, &l) < 0) return throw_errno(env, errno, "getsockopt SO_SNDBUF", NULL);
  napi_value arr, a, b;
  CHECK(env, napi_create_array_with_length(env, 2, &arr));
  CHECK(env, napi_create_int32(env, r, &a));
  CHECK(env, napi_create_int32(env, s, &b));
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

// start(cb: (payloads: Buffer[], sources: Buffer, errno: number) => void)
static napi_value udp_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  udp_t *t = unwrap(env, info, &argc, argv, &self);
  if (!t) return NULL;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "EINVAL", "start() needs a callback function");
    return NULL;
  }
  if (t->fd < 0) return throw_errno(env, EBADF, "start", NULL);
  if (js_callback_active(&t->cb)) {
    napi_throw_error(env, "EALREADY", "already reading");
    return NULL;
  }
  if (!js_callback_init(&t->cb, env, self, argv[0], "switchback:udp")) {
    throw_status(env, "start");
    return NULL;
  }
  update_poll(t);
  return NULL;
}

// queue(bytes: Uint8Array, host: string, port: number): number -- the queue
// length after adding it, or -errno: EINVAL for bad bytes, address or port,
// ENOBUFS when the queue is full, EBADF when closed. The bytes are copied.
static napi_value udp_queue(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], v;
  udp_t *t = unwrap(env, info, &argc, argv, NULL);
  if (!t) return NULL;
  int32_t r = 0;
  bool is_ta = false;
  napi_typedarray_type type;
  size_t length = 0;
  void *bytes = NULL;
  char host[HOST_MAX];
  size_t hlen = 0;
  int64_t port = 0;
  if (t->fd < 0) r = -EBADF;
  else if (argc < 3 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta ||
           napi_get_typedarray_info(env, argv[0], &type, &length, &bytes, NULL, NULL) != napi_ok ||
           type != napi_uint8_array || length == 0 || length > t->max_payload ||
           napi_get_value_string_utf8(env, argv[1], host, sizeof host, &hlen) != napi_ok || hlen == 0 ||
           hlen >= HOST_MAX - 1 || strlen(host) != hlen || !get_int(env, argv[2], 1, 65535, &port))
    r = -EINVAL;
  else if (t->qlen >= t->qcap || t->qbytes + length > t->qbytes_max)
    r = -ENOBUFS;
  else {
    entry_t *e = &t->q[(t->qhead + t->qlen) % t->qcap];
    if (strcmp(host, t->last_host) == 0) {
      e->addr = t->last_addr;
      e->alen = t->last_alen;
      if (t->family == AF_INET) e->addr.v4.sin_port = htons((uint16_t)port);
      else e->addr.v6.sin6_port = htons((uint16_t)port);
    } else if (parse_addr(t->family, host, (uint16_t)port, &e->addr, &e->alen)) {
      memcpy(t->last_host, host, hlen + 1);
      t->last_addr = e->addr;
      t->last_alen = e->alen;
    } else {
      r = -EINVAL;
    }
    if (r == 0) {
      e->data = malloc(length);
      if (!e->data) r = -ENOBUFS;
      else {
        memcpy(e->data, bytes, length);
        e->len = (uint32_t)length;
        t->qlen++;
        t->qbytes += length;
        t->stats[ST_QUEUED] = t->qlen;
        r = (int32_t)t->qlen;
      }
    }
  }
  CHECK(env, napi_create_int32(env, r, &v));
  return v;
}

// flush(): number -- datagrams handed to the kernel now. When the socket
// buffer is full the rest goes out as soon as the socket is writable.
static napi_value udp_flush(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  udp_t *t = unwrap(env, info, &argc, NULL, NULL);
  if (!t) return NULL;
  uint32_t sent = 0;
  if (t->fd >= 0 && !t->want_write) sent = flush_queue(t);
  napi_value v;
  CHECK(env, napi_create_uint32(env, sent, &v));
  return v;
}

// close(): sends what the socket takes now; the rest is dropped (counted).
static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  udp_t *t = unwrap(env, info, &argc, NULL, NULL);
  if (!t) return NULL;
  close_socket(t, true);
  return NULL;
}

napi_value udp_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"local", NULL, udp_local, NULL, NULL, NULL, napi_default, NULL},
      {"bufferSizes", NULL, udp_buffer_sizes, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, udp_start, NULL, NULL, NULL, napi_default, NULL},
      {"queue", NULL, udp_queue, NULL, NULL, NULL, napi_default, NULL},
      {"flush", NULL, udp_flush, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, udp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls, batch, source_size;
  CHECK(env, napi_define_class(env, "Udp", NAPI_AUTO_LENGTH, udp_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  CHECK(env, napi_create_uint32(env, BATCH, &batch));
  CHECK(env, napi_create_uint32(env, SOURCE_SIZE, &source_size));
  napi_property_descriptor fns[] = {
      {"Udp", NULL, NULL, NULL, NULL, cls, napi_enumerable, NULL},
      {"BATCH", NULL, NULL, NULL, NULL, batch, napi_enumerable, NULL},
      {"SOURCE_SIZE", NULL, NULL, NULL, NULL, source_size, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  return exports;
}

