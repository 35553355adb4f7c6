// Minimal TUN access for the router agent (N-API, C). Deliberately small: open
// /dev/net/tun with TUNSETIFF (IFF_TUN | IFF_NO_PI), non-blocking; read with a
// libuv poll watcher on the JS thread, draining the device in batches until
// EAGAIN; write batches synchronously and non-blocking; MTU and link up through
// SIOCSIFMTU / SIOCSIFFLAGS. Addresses and routes are left to `ip`.
//
// With offload on (the default) the device also has IFF_VNET_HDR and TCP
// segmentation offload: reads may bring a 64 KB TCP super-packet, cut into
// MTU-sized packets before JS sees them, and writeBatch() hands a flow's
// consecutive segments back as one super-packet (offload.c).
//
// Failures of the calls that set the device up throw an Error with `code`
// (errno name), `errno` and `syscall`. The packet path never throws: write()
// returns the byte count or -errno, and read errors reach the JS callback.
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "js-callback.h"
#include "napi-errors.h"
#include "offload.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>


#include "tun.h"
#include "fastpath.h"

const napi_type_tag TUN_TAG = {0x7a3c9e1f2b4d6a85ULL, 0x5e8d1c3f7a9b2e46ULL};


// Reads an interface name argument; false (with an exception pending) when it is unusable.
static bool get_ifname(napi_env env, napi_value v, char out[IFNAMSIZ]) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, IFNAMSIZ, &len) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "interface name must be a string");
    return false;
  }
  size_t full = 0;
  napi_get_value_string_utf8(env, v, NULL, 0, &full);
  if (full >= IFNAMSIZ) {
    throw_errno(env, ENAMETOOLONG, "ifname", out);
    return false;
  }
  return true;
}

static tun_t *unwrap(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "EINVAL", "not a Tun object");
    return NULL;
  }
  return (tun_t *)data;
}

static void on_poll_closed(uv_handle_t *h) { free(h); }

static void stop_reading(tun_t *t) {
  if (t->poll) {
    uv_poll_stop(t->poll);
    uv_close((uv_handle_t *)t->poll, on_poll_closed);
    t->poll = NULL;
  }
  js_callback_release(&t->cb);
}

static void close_device(tun_t *t) {
  stop_reading(t);
  if (t->fd >= 0) {
    close(t->fd);
    t->fd = -1;
  }
}

static void env_cleanup(void *arg) { close_device((tun_t *)arg); }

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  tun_t *t = (tun_t *)data;
  close_device(t);
  napi_remove_env_cleanup_hook(env, env_cleanup, t);
  free(t->buf);
  free(t->out);
  free(t->seg);
  free(t);
}


// Output of offload_read: each packet becomes a Buffer in the batch array.
typedef struct {
  napi_env env;
  napi_value packets;
  uint32_t n;
} batch_t;

static uint8_t *alloc_packet(void *ctx, size_t len) {
  batch_t *b = (batch_t *)ctx;
  napi_value buf;
  void *data = NULL;
  if (napi_create_buffer(b->env, len, &data, &buf) != napi_ok) return NULL;
  napi_set_element(b->env, b->packets, b->n++, buf);
  return (uint8_t *)data;
}

// The packets of one wake-up on their way out: each goes to the fast path
// if it takes it, or else into a Buffer for the JS callback. The JS objects
// are made at the first packet for JS: a wake-up the fast path handles
// whole never enters the JS engine.
typedef struct {
  tun_t *t;
  napi_handle_scope scope;
  napi_value packets;
  uint32_t n;
  span_t segs[BATCH_MAX];   // cut from the read in hand, not yet passed on
  uint32_t nsegs;
} pass_t;

static void pass_packet(pass_t *p, const uint8_t *data, size_t len) {
  tun_t *t = p->t;
  if (t->fp && fastpath_from_access(t->fp, t->fp_slot, data, len)) return;
  napi_env env = t->env;
  if (!p->scope) {
    napi_open_handle_scope(env, &p->scope);
    napi_create_array(env, &p->packets);
  }
  napi_value b;
  if (napi_create_buffer_copy(env, len, data, NULL, &b) != napi_ok) return;
  napi_set_element(env, p->packets, p->n++, b);
}

static void pass_segments(pass_t *p) {
  for (uint32_t i = 0; i < p->nsegs; i++) pass_packet(p, p->segs[i].data, p->segs[i].len);
  p->nsegs = 0;
  p->t->seg_used = 0;
}

// offload_read's output goes to the scratch area; when that (or the list)
// is full, the packets cut so far are passed on first: they are complete.
static uint8_t *alloc_seg(void *ctx, size_t len) {
  pass_t *p = (pass_t *)ctx;
  tun_t *t = p->t;
  if (len > SEG_SCRATCH) return NULL;
  if (p->nsegs == BATCH_MAX || t->seg_used + len > SEG_SCRATCH) pass_segments(p);
  uint8_t *at = t->seg + t->seg_used;
  t->seg_used += len;
  p->segs[p->nsegs++] = (span_t){at, len};
  return at;
}

static void read_offloaded(tun_t *t, size_t len, pass_t *p) {
  vnet_hdr_t h;
  vnet_decode(t->buf, &h);
  uint32_t count = 0;
  offload_result_t r = offload_read(t->buf, len, alloc_seg, p, &count);
  // Packets already cut are passed on; on failure the rest of the read is lost.
  pass_segments(p);
  if (r != OFFLOAD_OK) {
    t->stats[ST_RX_BAD]++;
    return;
  }
  if (h.gso_type != VNET_GSO_NONE && count > 1) {
    t->stats[ST_RX_SUPER]++;
    t->stats[ST_RX_SEGMENTS] += count;
  } else if (h.flags & VNET_F_NEEDS_CSUM) {
    t->stats[ST_RX_CSUM]++;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  tun_t *t = (tun_t *)h->data;
  napi_env env = t->env;
  pass_t pass;
  pass.t = t;
  pass.scope = NULL;
  pass.n = pass.nsegs = 0;
  uint32_t reads = 0;
  int err = 0;
  // A packet that wakes an idle device is most likely alone: reading on to
  // hear EAGAIN would put a system call on the latency path. Busy (the last
  // wake-up brought several, or came within a millisecond), the device is
  // drained in batches; a packet left behind wakes the poll again at once.
  uint64_t now = uv_now(h->loop);
  uint32_t limit = t->last_reads > 1 || now - t->last_wake_ms <= 1 ? BATCH_MAX : 1;
  t->last_wake_ms = now;
  if (status < 0) {
    err = -status;
  } else {
    while (reads < limit && pass.n < BATCH_MAX) {
      ssize_t r = read(t->fd, t->buf, READ_SIZE);
      if (r > 0) {
        reads++;
        if (t->vnet) read_offloaded(t, (size_t)r, &pass);
        else pass_packet(&pass, t->buf, (size_t)r);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
  }
  t->last_reads = reads;
  // What the fast path sealed leaves now, ahead of what JS will decide.
  if (t->fp) fastpath_flush(t->fp);
  // A device that fails to read (e.g. deleted under us) would wake us forever.
  if (err) uv_poll_stop(h);
  if (pass.n > 0 || err) {
    if (!pass.scope) {
      napi_open_handle_scope(env, &pass.scope);
      napi_create_array(env, &pass.packets);
    }
    // cb(packets: Buffer[], errno: number)
    napi_value argv[2] = {pass.packets, NULL};
    napi_create_int32(env, err, &argv[1]);
    js_callback_call(&t->cb, 2, argv);
  }
  if (pass.scope) napi_close_handle_scope(env, pass.scope);
}

// new Tun(name: string, offload = false) -- '' lets the kernel choose (tun0,
// tun1, ...). With offload the device gets IFF_VNET_HDR and asks for TSO;
// a kernel that refuses TSO leaves `offload` false and nothing else changes.
static napi_value tun_new(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  char name[IFNAMSIZ] = {0};
  if (argc >= 1 && !get_ifname(env, argv[0], name)) return NULL;
  bool want_offload = false;
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &want_offload) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "offload must be a boolean");
    return NULL;
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (want_offload ? IFF_VNET_HDR : 0);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "TUNSETIFF", name);
  }
  int hdr_size = VNET_HDR_LEN;
  if (want_offload && ioctl(fd, TUNSETVNETHDRSZ, &hdr_size) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "TUNSETVNETHDRSZ", name);
  }
  bool offload = want_offload && ioctl(fd, TUNSETOFFLOAD, (unsigned long)OFFLOADS) == 0;
  tun_t *t = calloc(1, sizeof *t);
  uint8_t *buf = malloc(READ_SIZE);
  coalesced_t *out = calloc(COALESCE_BATCH_MAX, sizeof *out);
  uint8_t *seg = malloc(SEG_SCRATCH);
  if (!t || !buf || !out || !seg) {
    free(t);
    free(buf);
    free(out);
    free(seg);
    close(fd);
    return throw_errno(env, ENOMEM, "Tun", name);
  }
  t->env = env;
  t->cb.env = env;
  t->fd = fd;
  t->buf = buf;
  t->out = out;
  t->seg = seg;
  t->vnet = want_offload;
  t->offload = offload;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  if (napi_type_tag_object(env, self, &TUN_TAG) != napi_ok || napi_wrap(env, self, t, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(buf);
    free(out);
    free(seg);
    free(t);
    throw_status(env, "napi_wrap");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, env_cleanup, t);
  return self;
}

static napi_value tun_get_name(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_value v;
  CHECK(env, napi_create_string_utf8(env, t->name, NAPI_AUTO_LENGTH, &v));
  return v;
}

static napi_value tun_get_fd(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_value v;
  CHECK(env, napi_create_int32(env, t->fd, &v));
  return v;
}

// start(cb: (packets: Buffer[], errno: number) => void)
static napi_value tun_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  void *data = NULL;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  if (napi_unwrap(env, self, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "EINVAL", "not a Tun object");
    return NULL;
  }
  tun_t *t = (tun_t *)data;
  napi_valuetype type = napi_undefined;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, "EINVAL", "start() needs a callback function");
    return NULL;
  }
  if (t->fd < 0) return throw_errno(env, EBADF, "start", t->name);
  if (t->poll) {
    napi_throw_error(env, "EALREADY", "already reading");
    return NULL;
  }
  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  uv_poll_t *p = malloc(sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "start", t->name);
  int r = uv_poll_init(loop, p, t->fd);
  if (r < 0) {
    free(p);
    return throw_errno(env, -r, "uv_poll_init", t->name);
  }
  p->data = t;
  t->poll = p; // from here on stop_reading() undoes whatever was set up
  if (!js_callback_init(&t->cb, env, self, argv[0], "switchback:tun")) {
    stop_reading(t);
    throw_status(env, "start");
    return NULL;
  }
  r = uv_poll_start(p, UV_READABLE, on_readable);
  if (r < 0) {
    stop_reading(t);
    return throw_errno(env, -r, "uv_poll_start", t->name);
  }
  return NULL;
}

static ssize_t writev_retry(int fd, const struct iovec *iov, int n) {
  ssize_t r;
  do r = writev(fd, iov, n);
  while (r < 0 && errno == EINTR);
  return r < 0 ? -errno : r;
}

static const uint8_t ZERO_VNET[VNET_HDR_LEN] = {0};

// One packet as it is: behind an all-zero virtio header when the device has one.
static ssize_t write_one(tun_t *t, const uint8_t *bytes, size_t length) {
  if (t->fd < 0) return -EBADF;
  struct iovec iov[2] = {{(void *)ZERO_VNET, VNET_HDR_LEN}, {(void *)bytes, length}};
  ssize_t r = t->vnet ? writev_retry(t->fd, iov, 2) : writev_retry(t->fd, iov + 1, 1);
  return r > 0 && t->vnet ? r - VNET_HDR_LEN : r;
}

// Reads a Uint8Array argument; false when `v` is anything else.
static bool get_bytes(napi_env env, napi_value v, uint8_t **bytes, size_t *length) {
  bool is_ta = false;
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, v, &type, length, &data, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return false;
  *bytes = (uint8_t *)data;
  return true;
}

// Element i of a JS array as a non-empty packet; false when it is anything else.
static bool get_packet(napi_env env, napi_value array, uint32_t i, span_t *out) {
  napi_value e;
  uint8_t *bytes = NULL;
  size_t length = 0;
  if (napi_get_element(env, array, i, &e) != napi_ok || !get_bytes(env, e, &bytes, &length) || length == 0) return false;
  *out = (span_t){bytes, length};
  return true;
}

// Writes one coalesced group; results[i] for each member gets its own length or -errno.
static uint32_t write_group(tun_t *t, const span_t *pkts, const uint32_t *next, const coalesced_t *o, int32_t *results) {
  if (o->count == 1) {
    ssize_t r = write_one(t, pkts[o->head].data, pkts[o->head].len);
    results[o->head] = (int32_t)r;
    return 1;
  }
  struct iovec iov[COALESCE_MAX_SEGS + 2];
  int n = 0;
  iov[n++] = (struct iovec){(void *)o->vnet, VNET_HDR_LEN};
  iov[n++] = (struct iovec){(void *)o->hdr, o->hdr_len};
  for (uint32_t i = o->head; i != UINT32_MAX; i = next[i]) {
    iov[n++] = (struct iovec){(void *)(pkts[i].data + o->hdr_len), pkts[i].len - o->hdr_len};
  }
  ssize_t r = writev_retry(t->fd, iov, n);
  if (r >= 0) {
    t->stats[ST_TX_SUPER]++;
    t->stats[ST_TX_COALESCED] += o->count;
    for (uint32_t i = o->head; i != UINT32_MAX; i = next[i]) results[i] = (int32_t)pkts[i].len;
    return 1;
  }
  // A kernel that will not take this super-packet still gets every packet.
  t->stats[ST_TX_FALLBACK]++;
  uint32_t calls = 1;
  for (uint32_t i = o->head; i != UINT32_MAX; i = next[i], calls++) {
    results[i] = (int32_t)write_one(t, pkts[i].data, pkts[i].len);
  }
  return calls;
}

uint32_t tun_write_spans(tun_t *t, const span_t *pkts, uint32_t k, int32_t *results) {
  uint32_t next[COALESCE_BATCH_MAX];
  coalesced_t *out = t->out;
  if (t->fd < 0) {
    for (uint32_t i = 0; i < k; i++) results[i] = -EBADF;
    return 0;
  }
  uint32_t writes, calls = 0;
  if (t->vnet && t->offload) {
    writes = offload_coalesce(pkts, k, next, out);
  } else {
    for (uint32_t i = 0; i < k; i++) {
      next[i] = UINT32_MAX;
      out[i].head = i;
      out[i].count = 1;
    }
    writes = k;
  }
  for (uint32_t w = 0; w < writes; w++) calls += write_group(t, pkts, next, &out[w], results);
  return calls;
}

// writeBatch(packets: Uint8Array[], results: Int32Array): number -- writes
// every packet, coalescing where the device has offloads; results[i] is the
// byte count of packet i or -errno (EINVAL for an element that is not a
// Uint8Array, like a packet the kernel refuses). Returns the system calls made.
static napi_value tun_write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  tun_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  bool is_array = false;
  int32_t *results = NULL;
  size_t rlen = 0;
  uint32_t n = 0;
  napi_typedarray_type rtype;
  void *rdata = NULL;
  bool is_ta = false;
  if (argc < 2 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[1], &rtype, &rlen, &rdata, NULL, NULL) != napi_ok || rtype != napi_int32_array ||
      rlen < n) {
    napi_throw_type_error(env, "EINVAL", "writeBatch(packets: Uint8Array[], results: Int32Array of at least packets.length)");
    return NULL;
  }
  results = (int32_t *)rdata;
  span_t pkts[COALESCE_BATCH_MAX];
  uint32_t index[COALESCE_BATCH_MAX]; // position in the caller's array of pkts[k]
  int32_t res[COALESCE_BATCH_MAX];
  uint32_t calls = 0;
  for (uint32_t base = 0; base < n;) {
    uint32_t k = 0;
    for (; base < n && k < COALESCE_BATCH_MAX; base++) {
      if (!get_packet(env, argv[0], base, &pkts[k])) results[base] = -EINVAL;
      else if (t->fd < 0) results[base] = -EBADF;
      else index[k++] = base;
    }
    if (k == 0) continue;
    calls += tun_write_spans(t, pkts, k, res);
    for (uint32_t i = 0; i < k; i++) results[index[i]] = res[i];
  }
  napi_value v;
  CHECK(env, napi_create_uint32(env, calls, &v));
  return v;
}

static napi_value tun_get_offload(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_value v;
  CHECK(env, napi_get_boolean(env, t->offload, &v));
  return v;
}

// offloadStats(): number[] -- the ST_ counters, in their order.
static napi_value tun_offload_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  napi_value arr;
  CHECK(env, napi_create_array_with_length(env, ST_COUNT, &arr));
  for (uint32_t i = 0; i < ST_COUNT; i++) {
    napi_value v;
    CHECK(env, napi_create_double(env, t->stats[i], &v));
    CHECK(env, napi_set_element(env, arr, i, v));
  }
  return arr;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  close_device(t);
  return NULL;
}

// The offload logic without a device, for tests:
// splitRead(read: Uint8Array): Buffer[] -- what a read of these bytes (virtio
// header first) delivers; throws EINVAL for one the device path would drop.
static napi_value split_read(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *bytes = NULL;
  size_t length = 0;
  if (argc < 1 || !get_bytes(env, argv[0], &bytes, &length)) {
    napi_throw_type_error(env, "EINVAL", "splitRead() needs a Uint8Array");
    return NULL;
  }
  batch_t batch = {env, NULL, 0};
  CHECK(env, napi_create_array(env, &batch.packets));
  uint32_t count = 0;
  if (offload_read(bytes, length, alloc_packet, &batch, &count) != OFFLOAD_OK) {
    napi_throw_error(env, "EINVAL", "malformed virtio header or super-packet");
    return NULL;
  }
  return batch.packets;
}

// coalesceWrites(packets: Uint8Array[]): Buffer[] -- the writes writeBatch
// would make for these packets, each as its bytes (virtio header first).
static napi_value coalesce_writes(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint32_t n = 0;
  bool is_array = false;
  if (argc < 1 || napi_is_array(env, argv[0], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[0], &n) != napi_ok || n > COALESCE_BATCH_MAX) {
    napi_throw_type_error(env, "EINVAL", "coalesceWrites() needs an array of at most 256 Uint8Arrays");
    return NULL;
  }
  span_t pkts[COALESCE_BATCH_MAX];
  uint32_t next[COALESCE_BATCH_MAX];
  coalesced_t *out = calloc(COALESCE_BATCH_MAX, sizeof *out);
  if (!out) return throw_errno(env, ENOMEM, "coalesceWrites", NULL);
  for (uint32_t i = 0; i < n; i++) {
    if (!get_packet(env, argv[0], i, &pkts[i])) {
      free(out);
      napi_throw_type_error(env, "EINVAL", "coalesceWrites(): every packet must be a non-empty Uint8Array");
      return NULL;
    }
  }
  uint32_t writes = offload_coalesce(pkts, n, next, out);
  napi_value arr;
  if (napi_create_array_with_length(env, writes, &arr) != napi_ok) {
    free(out);
    throw_status(env, "coalesceWrites");
    return NULL;
  }
  for (uint32_t w = 0; w < writes; w++) {
    const coalesced_t *o = &out[w];
    size_t total = VNET_HDR_LEN;
    if (o->count == 1) total += pkts[o->head].len;
    else {
      total += o->hdr_len;
      for (uint32_t i = o->head; i != UINT32_MAX; i = next[i]) total += pkts[i].len - o->hdr_len;
    }
    napi_value b;
    void *data = NULL;
    if (napi_create_buffer(env, total, &data, &b) != napi_ok) break;
    uint8_t *p = data;
    memcpy(p, o->vnet, VNET_HDR_LEN);
    p += VNET_HDR_LEN;
    if (o->count == 1) memcpy(p, pkts[o->head].data, pkts[o->head].len);
    else {
      memcpy(p, o->hdr, o->hdr_len);
      p += o->hdr_len;
      for (uint32_t i = o->head; i != UINT32_MAX; i = next[i]) {
        memcpy(p, pkts[i].data + o->hdr_len, pkts[i].len - o->hdr_len);
        p += pkts[i].len - o->hdr_len;
      }
    }
    napi_set_element(env, arr, w, b);
  }
  free(out);
  return arr;
}

static int ioctl_socket(void) { return socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0); }

// setMtu(name: string, mtu: number)
static napi_value set_mtu(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  int32_t mtu = 0;
  if (argc < 2 || !get_ifname(env, argv[0], name)) {
    if (argc < 2) napi_throw_type_error(env, "EINVAL", "setMtu(name, mtu)");
    return NULL;
  }
  if (napi_get_value_int32(env, argv[1], &mtu) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "mtu must be a number");
    return NULL;
  }
  int s = ioctl_socket();
  if (s < 0) return throw_errno(env, errno, "socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  ifr.ifr_mtu = mtu;
  int r = ioctl(s, SIOCSIFMTU, &ifr);
  int e = errno;
  close(s);
  if (r < 0) return throw_errno(env, e, "SIOCSIFMTU", name);
  return NULL;
}

// setUp(name: string, up: boolean)
static napi_value set_up(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[IFNAMSIZ] = {0};
  bool up = true;
  if (argc < 1 || !get_ifname(env, argv[0], name)) {
    if (argc < 1) napi_throw_type_error(env, "EINVAL", "setUp(name, up)");
    return NULL;
  }
  if (argc >= 2 && napi_get_value_bool(env, argv[1], &up) != napi_ok) {
    napi_throw_type_error(env, "EINVAL", "up must be a boolean");
    return NULL;
  }
  int s = ioctl_socket();
  if (s < 0) return throw_errno(env, errno, "socket", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  int r = ioctl(s, SIOCGIFFLAGS, &ifr);
  const char *call = "SIOCGIFFLAGS";
  if (r == 0) {
    if (up) ifr.ifr_flags |= IFF_UP;
    else ifr.ifr_flags &= ~IFF_UP;
    r = ioctl(s, SIOCSIFFLAGS, &ifr);
    call = "SIOCSIFFLAGS";
  }
  int e = errno;
  close(s);
  if (r < 0) return throw_errno(env, e, call, name);
  return NULL;
}

napi_value tun_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"name", NULL, NULL, tun_get_name, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, NULL, tun_get_fd, NULL, NULL, napi_enumerable, NULL},
      {"offload", NULL, NULL, tun_get_offload, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_default, NULL},
      {"offloadStats", NULL, tun_offload_stats, NULL, NULL, NULL, napi_default, NULL},
      {"start", NULL, tun_start, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  CHECK(env, napi_define_class(env, "Tun", NAPI_AUTO_LENGTH, tun_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  napi_property_descriptor fns[] = {
      {"Tun", NULL, NULL, NULL, NULL, cls, napi_enumerable, NULL},
      {"setMtu", NULL, set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUp", NULL, set_up, NULL, NULL, NULL, napi_enumerable, NULL},
      {"splitRead", NULL, split_read, NULL, NULL, NULL, napi_enumerable, NULL},
      {"coalesceWrites", NULL, coalesce_writes, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  return exports;
}

