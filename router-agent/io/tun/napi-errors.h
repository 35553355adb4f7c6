// Error helpers shared by the addons (tun.c, udp.c): one shape of Error for
// every failed system call -- `code` (errno name), `errno`, `syscall` -- so
// the TypeScript side (sys-error.ts) maps them the same way.
#ifndef SWITCHBACK_NAPI_ERRORS_H
#define SWITCHBACK_NAPI_ERRORS_H

#include <node_api.h>
#include <uv.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CHECK(env, call)                                  \
  do {                                                    \
    if ((call) != napi_ok) {                              \
      throw_status(env, #call);                           \
      return NULL;                                        \
    }                                                     \
  } while (0)

static inline void throw_status(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) napi_throw_error(env, "EINTERNAL", what);
}

// `name` (an interface name, or NULL) goes into the message after the call.
static inline napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *name) {
  char msg[256];
  if (name && name[0]) snprintf(msg, sizeof msg, "%s %s: %s", syscall, name, strerror(err));
  else snprintf(msg, sizeof msg, "%s: %s", syscall, strerror(err));
  napi_value m, code, e, n, sc;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, uv_err_name(-err), NAPI_AUTO_LENGTH, &code);
  napi_create_error(env, code, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, e, "syscall", sc);
  return e;
}

static inline napi_value throw_errno(napi_env env, int err, const char *syscall, const char *name) {
  napi_throw(env, make_errno_error(env, err, syscall, name));
  return NULL;
}

#endif
