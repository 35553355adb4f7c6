// Minimal TUN access for the router agent (N-API, C). Deliberately small: open
// /dev/net/tun with TUNSETIFF (IFF_TUN | IFF_NO_PI), non-blocking; read with a
// libuv poll watcher on the JS thread, draining the device in batches until
// EAGAIN; write synchronously and non-blocking; MTU and link up through
// SIOCSIFMTU / SIOCSIFFLAGS. Addresses and routes are left to `ip`.
//
// Failures of the calls that set the device up throw an Error with `code`
// (errno name), `errno` and `syscall`. The packet path never throws: write()
// returns the byte count or -errno, and read errors reach the JS callback.
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "napi-errors.h"

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
#include <unistd.h>

#define READ_SIZE 65536 // an IP packet is at most 65535 bytes; never truncate
#define BATCH_MAX 64    // packets per JS call, and per wake-up: keeps the loop fair

typedef struct {
  napi_env env;
  int fd;
  char name[IFNAMSIZ];
  uv_poll_t *poll;          // non-NULL while reading
  napi_ref self;            // strong while reading, so GC cannot end a live device
  napi_ref callback;
  napi_async_context async; // for napi_make_callback (async hooks, microtasks)
  uint8_t *buf;
  bool delivering;          // inside the JS callback: close() defers the async teardown
} tun_t;


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
  if (t->callback) {
    napi_delete_reference(t->env, t->callback);
    t->callback = NULL;
  }
  if (t->async && !t->delivering) {
    napi_async_destroy(t->env, t->async);
    t->async = NULL;
  }
  if (t->self) {
    napi_delete_reference(t->env, t->self);
    t->self = NULL;
  }
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
  free(t);
}

// Calls cb(packets: Buffer[], errno: number). An exception thrown by the
// callback goes to process 'uncaughtException', as for any I/O callback.
static void deliver(tun_t *t, napi_value packets, int err) {
  napi_env env = t->env;
  napi_value cb, recv, argv[2], result;
  if (napi_get_reference_value(env, t->callback, &cb) != napi_ok || cb == NULL) return;
  napi_get_global(env, &recv);
  argv[0] = packets;
  napi_create_int32(env, err, &argv[1]);
  napi_status s = napi_make_callback(env, t->async, recv, cb, 2, argv, &result);
  if (s == napi_pending_exception) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  tun_t *t = (tun_t *)h->data;
  napi_env env = t->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value packets;
  napi_create_array(env, &packets);
  uint32_t n = 0;
  int err = 0;
  if (status < 0) {
    err = -status;
  } else {
    while (n < BATCH_MAX) {
      ssize_t r = read(t->fd, t->buf, READ_SIZE);
      if (r > 0) {
        napi_value b;
        if (napi_create_buffer_copy(env, (size_t)r, t->buf, NULL, &b) != napi_ok) break;
        napi_set_element(env, packets, n++, b);
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
  }
  // A device that fails to read (e.g. deleted under us) would wake us forever.
  if (err) uv_poll_stop(h);
  if (n > 0 || err) {
    t->delivering = true;
    deliver(t, packets, err);
    t->delivering = false;
    if (!t->poll && t->async) {
      napi_async_destroy(env, t->async);
      t->async = NULL;
    }
  }
  napi_close_handle_scope(env, scope);
}

// new Tun(name: string) -- '' lets the kernel choose (tun0, tun1, ...).
static napi_value tun_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  char name[IFNAMSIZ] = {0};
  if (argc >= 1 && !get_ifname(env, argv[0], name)) return NULL;

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return throw_errno(env, errno, "open /dev/net/tun", NULL);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, IFNAMSIZ);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "TUNSETIFF", name);
  }
  tun_t *t = calloc(1, sizeof *t);
  uint8_t *buf = malloc(READ_SIZE);
  if (!t || !buf) {
    free(t);
    free(buf);
    close(fd);
    return throw_errno(env, ENOMEM, "Tun", name);
  }
  t->env = env;
  t->fd = fd;
  t->buf = buf;
  memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
  t->name[IFNAMSIZ - 1] = 0;
  if (napi_wrap(env, self, t, finalize, NULL, NULL) != napi_ok) {
    close(fd);
    free(buf);
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
  napi_value resource_name;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  CHECK(env, napi_create_string_utf8(env, "switchback:tun", NAPI_AUTO_LENGTH, &resource_name));
  uv_poll_t *p = malloc(sizeof *p);
  if (!p) return throw_errno(env, ENOMEM, "start", t->name);
  int r = uv_poll_init(loop, p, t->fd);
  if (r < 0) {
    free(p);
    return throw_errno(env, -r, "uv_poll_init", t->name);
  }
  p->data = t;
  t->poll = p; // from here on stop_reading() undoes whatever was set up
  if (napi_async_init(env, self, resource_name, &t->async) != napi_ok ||
      napi_create_reference(env, argv[0], 1, &t->callback) != napi_ok ||
      napi_create_reference(env, self, 1, &t->self) != napi_ok) {
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

// write(bytes: Uint8Array): number -- bytes written, or -errno (EAGAIN when the
// device queue is full, EINVAL for a packet the kernel refuses).
static napi_value tun_write(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  tun_t *t = unwrap(env, info, &argc, argv);
  if (!t) return NULL;
  bool is_ta = false;
  if (argc < 1 || napi_is_typedarray(env, argv[0], &is_ta) != napi_ok || !is_ta) {
    napi_throw_type_error(env, "EINVAL", "write() needs a Uint8Array");
    return NULL;
  }
  napi_typedarray_type type;
  size_t length;
  void *bytes;
  CHECK(env, napi_get_typedarray_info(env, argv[0], &type, &length, &bytes, NULL, NULL));
  if (type != napi_uint8_array) {
    napi_throw_type_error(env, "EINVAL", "write() needs a Uint8Array");
    return NULL;
  }
  ssize_t r;
  if (t->fd < 0) r = -EBADF;
  else {
    do r = write(t->fd, bytes, length);
    while (r < 0 && errno == EINTR);
    if (r < 0) r = -errno;
  }
  napi_value v;
  CHECK(env, napi_create_int64(env, (int64_t)r, &v));
  return v;
}

static napi_value tun_close(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  tun_t *t = unwrap(env, info, &argc, NULL);
  if (!t) return NULL;
  close_device(t);
  return NULL;
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"name", NULL, NULL, tun_get_name, NULL, NULL, napi_enumerable, NULL},
      {"fd", NULL, NULL, tun_get_fd, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, tun_start, NULL, NULL, NULL, napi_default, NULL},
      {"write", NULL, tun_write, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, tun_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  CHECK(env, napi_define_class(env, "Tun", NAPI_AUTO_LENGTH, tun_new, NULL, sizeof methods / sizeof methods[0], methods, &cls));
  napi_property_descriptor fns[] = {
      {"Tun", NULL, NULL, NULL, NULL, cls, napi_enumerable, NULL},
      {"setMtu", NULL, set_mtu, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUp", NULL, set_up, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(env, napi_define_properties(env, exports, sizeof fns / sizeof fns[0], fns));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
