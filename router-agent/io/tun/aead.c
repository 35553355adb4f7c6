// AES-256-GCM for Switchback tunnel datagrams with one OpenSSL context per
// key, kept for the key's lifetime: per packet only the IV is set, where
// node:crypto builds a whole cipher object (key schedule, GHASH table, JS
// stream object), which measured as the largest single cost of the agent.
//
// Byte for byte the same as router-agent/dataplane/aead.ts: header bytes
// [0, 20) are the associated data, bytes [8, 20) the 96-bit nonce, the
// ciphertext follows the header and the 16-byte tag closes the datagram.
//
// OpenSSL is the one inside Node (its symbols are exported by the node
// binary, or by the shared libcrypto a distribution's node links). Without
// its headers this compiles to a module without the Aead class, and the
// agent falls back to node:crypto.
#define NAPI_VERSION 8
#include <node_api.h>

#include "aead.h"

#if SWITCHBACK_HAVE_OPENSSL
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HEADER 20
#define NONCE_AT 8
#define TAG 16
#define KEY 32

typedef struct {
  EVP_CIPHER_CTX *seal;
  EVP_CIPHER_CTX *open;
} aead_t;

bool aead_seal_datagram(EVP_CIPHER_CTX *c, uint8_t *dg, const uint8_t *pt, size_t pn) {
  int n = 0;
  bool ok = EVP_EncryptInit_ex(c, NULL, NULL, NULL, dg + NONCE_AT) == 1 && EVP_EncryptUpdate(c, NULL, &n, dg, HEADER) == 1;
  // A NULL output would make the bytes associated data: skip an empty payload.
  if (ok && pn > 0) ok = EVP_EncryptUpdate(c, dg + HEADER, &n, pt, (int)pn) == 1 && (size_t)n == pn;
  ok = ok && EVP_EncryptFinal_ex(c, dg + HEADER + pn, &n) == 1 && n == 0;
  return ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, TAG, dg + HEADER + pn) == 1;
}

bool aead_open_datagram(EVP_CIPHER_CTX *c, const uint8_t *dg, size_t dn, uint8_t *out) {
  size_t on = dn - HEADER - TAG;
  int n = 0;
  bool ok = EVP_DecryptInit_ex(c, NULL, NULL, NULL, dg + NONCE_AT) == 1 && EVP_DecryptUpdate(c, NULL, &n, dg, HEADER) == 1;
  if (ok && on > 0) ok = EVP_DecryptUpdate(c, out, &n, dg + HEADER, (int)on) == 1 && (size_t)n == on;
  // The expected tag is copied out: OpenSSL takes it through a non-const pointer.
  uint8_t tag[TAG];
  memcpy(tag, dg + dn - TAG, TAG);
  ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, TAG, tag) == 1;
  uint8_t none[1];
  ok = ok && EVP_DecryptFinal_ex(c, on > 0 ? out + on : none, &n) == 1 && n == 0; // verifies the tag
  if (!ok && on > 0) memset(out, 0, on);                 // never hand out unauthenticated bytes
  return ok;
}

EVP_CIPHER_CTX *aead_context(const uint8_t key[AEAD_KEY], bool seal) {
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  // The default GCM IV length is 12 bytes: our nonce.
  if (c && (seal ? EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL) : EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, NULL)) != 1) {
    EVP_CIPHER_CTX_free(c);
    return NULL;
  }
  return c;
}

static void aead_free(aead_t *a) {
  EVP_CIPHER_CTX_free(a->seal); // cleanses the key schedule
  EVP_CIPHER_CTX_free(a->open);
  free(a);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_free((aead_t *)data);
}

static bool bytes_of(napi_env env, napi_value v, uint8_t **p, size_t *n) {
  bool is_ta = false;
  if (napi_is_typedarray(env, v, &is_ta) != napi_ok || !is_ta) return false;
  napi_typedarray_type t;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &t, n, &data, NULL, NULL) != napi_ok || t != napi_uint8_array) return false;
  *p = (uint8_t *)data;
  return true;
}

static aead_t *self_of(napi_env env, napi_callback_info info, size_t *argc, napi_value *argv) {
  napi_value self;
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok) return NULL;
  if (napi_unwrap(env, self, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "EINVAL", "not an Aead object");
    return NULL;
  }
  return (aead_t *)data;
}

static napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

// new Aead(key: Uint8Array of 32 bytes)
static napi_value aead_new(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  if (napi_get_cb_info(env, info, &argc, argv, &self, NULL) != napi_ok) return NULL;
  uint8_t *key;
  size_t len;
  if (argc < 1 || !bytes_of(env, argv[0], &key, &len) || len != KEY) {
    napi_throw_type_error(env, "EINVAL", "the key must be a Uint8Array of 32 bytes");
    return NULL;
  }
  aead_t *a = calloc(1, sizeof *a);
  if (!a) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  a->seal = aead_context(key, true);
  a->open = aead_context(key, false);
  if (!a->seal || !a->open) {
    aead_free(a);
    napi_throw_error(env, "EINTERNAL", "OpenSSL AES-256-GCM initialisation failed");
    return NULL;
  }
  if (napi_wrap(env, self, a, finalize, NULL, NULL) != napi_ok) {
    aead_free(a);
    napi_throw_error(env, "EINTERNAL", "napi_wrap failed");
    return NULL;
  }
  return self;
}

// seal(datagram, plaintext): boolean. The datagram is header + room for the
// ciphertext + tag (length = 20 + plaintext.length + 16), header written.
// False for wrong lengths, overlapping buffers or an OpenSSL failure.
static napi_value aead_seal(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  aead_t *a = self_of(env, info, &argc, argv);
  if (!a) return NULL;
  uint8_t *dg, *pt;
  size_t dn, pn;
  if (argc < 2 || !bytes_of(env, argv[0], &dg, &dn) || !bytes_of(env, argv[1], &pt, &pn)) return boolean(env, false);
  if (pn > INT_MAX - HEADER - TAG || dn != HEADER + pn + TAG) return boolean(env, false);
  if (pn > 0 && pt < dg + dn && dg < pt + pn) return boolean(env, false);
  bool ok = aead_seal_datagram(a->seal, dg, pt, pn);
  return boolean(env, ok);
}

// open(datagram, out): boolean. out receives the plaintext (length =
// datagram.length - 36) when the tag verifies; otherwise it is zeroed and
// the result is false.
static napi_value aead_open(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  aead_t *a = self_of(env, info, &argc, argv);
  if (!a) return NULL;
  uint8_t *dg, *out;
  size_t dn, on;
  if (argc < 2 || !bytes_of(env, argv[0], &dg, &dn) || !bytes_of(env, argv[1], &out, &on)) return boolean(env, false);
  if (dn < HEADER + TAG || dn - HEADER - TAG > INT_MAX || on != dn - HEADER - TAG) return boolean(env, false);
  if (on > 0 && out < dg + dn && dg < out + on) return boolean(env, false);
  bool ok = aead_open_datagram(a->open, dg, dn, out);
  return boolean(env, ok);
}

napi_value aead_init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"seal", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  if (napi_define_class(env, "Aead", NAPI_AUTO_LENGTH, aead_new, NULL, sizeof methods / sizeof methods[0], methods, &cls) != napi_ok ||
      napi_set_named_property(env, exports, "Aead", cls) != napi_ok) {
    napi_throw_error(env, "EINTERNAL", "cannot define Aead");
    return NULL;
  }
  return exports;
}
#else
// No OpenSSL headers at build time: an empty module; the agent uses node:crypto.
napi_value aead_init(napi_env env, napi_value exports) {
  (void)env;
  return exports;
}
#endif

