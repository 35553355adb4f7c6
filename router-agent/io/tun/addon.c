// The router agent's native I/O as one module, because the fast path
// (fastpath.c) works inside the read callbacks of the TUN (tun.c) and UDP
// (udp.c) ports and seals with the AEAD contexts of aead.c.
#include <node_api.h>

#include "fastpath.h"

napi_value tun_init(napi_env env, napi_value exports);
napi_value udp_init(napi_env env, napi_value exports);
napi_value aead_init(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  if (!tun_init(env, exports) || !udp_init(env, exports) || !aead_init(env, exports) || !fastpath_init(env, exports)) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
