// The JS callback a reading device (tun.c, udp.c) delivers to: its
// references and async context, set up by start() and released by close(),
// shared so both addons tear down the same way. close() may run inside the
// callback itself; the async context is then destroyed after the callback
// returns, never under it.
#ifndef SWITCHBACK_JS_CALLBACK_H
#define SWITCHBACK_JS_CALLBACK_H

#include <node_api.h>

#include <stdbool.h>
#include <stddef.h>

typedef struct {
  napi_env env;
  napi_ref fn;              // NULL when not reading
  napi_ref self;            // strong while reading, so GC cannot end a live device
  napi_async_context async; // for napi_make_callback (async hooks, microtasks)
  bool delivering;          // inside the callback: release() defers the async teardown
} js_callback_t;

static inline bool js_callback_active(const js_callback_t *c) { return c->fn != NULL; }

// Drops the references; the async context too unless a call is in progress.
static inline void js_callback_release(js_callback_t *c) {
  if (c->fn) {
    napi_delete_reference(c->env, c->fn);
    c->fn = NULL;
  }
  if (c->async && !c->delivering) {
    napi_async_destroy(c->env, c->async);
    c->async = NULL;
  }
  if (c->self) {
    napi_delete_reference(c->env, c->self);
    c->self = NULL;
  }
}

// Takes `fn` as the callback of the object `self`; false (with the status
// set up so far released) when N-API refuses.
static inline bool js_callback_init(js_callback_t *c, napi_env env, napi_value self, napi_value fn, const char *resource) {
  napi_value name;
  c->env = env;
  if (napi_create_string_utf8(env, resource, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, self, name, &c->async) != napi_ok ||
      napi_create_reference(env, fn, 1, &c->fn) != napi_ok ||
      napi_create_reference(env, self, 1, &c->self) != napi_ok) {
    js_callback_release(c);
    return false;
  }
  return true;
}

// Calls fn(...argv) with the global as `this`. An exception it throws goes
// to process 'uncaughtException', as for any I/O callback.
static inline void js_callback_call(js_callback_t *c, size_t argc, napi_value *argv) {
  napi_env env = c->env;
  napi_value fn, recv, result;
  if (!c->fn || napi_get_reference_value(env, c->fn, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv);
  c->delivering = true;
  napi_status s = napi_make_callback(env, c->async, recv, fn, argc, argv, &result);
  c->delivering = false;
  if (s == napi_pending_exception) {
    napi_value ex;
    napi_get_and_clear_last_exception(env, &ex);
    napi_fatal_exception(env, ex);
  }
  // Released during the call: finish what release() had to leave.
  if (!c->fn && c->async) {
    napi_async_destroy(env, c->async);
    c->async = NULL;
  }
}

#endif
