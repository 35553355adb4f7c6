// AES-256-GCM over tunnel datagrams (aead.c), for the Aead class and the
// native fast path. Without OpenSSL headers at build time neither exists.
#ifndef SWITCHBACK_AEAD_H
#define SWITCHBACK_AEAD_H

#include <node_api.h>

#if __has_include(<openssl/evp.h>)
#define SWITCHBACK_HAVE_OPENSSL 1
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AEAD_HEADER 20 // the tunnel header: associated data
#define AEAD_TAG 16
#define AEAD_KEY 32

// A context for one key, to seal with (seal true) or to open with.
EVP_CIPHER_CTX *aead_context(const uint8_t key[AEAD_KEY], bool seal);
// dg: header written, room for pn bytes of ciphertext and the tag after it.
bool aead_seal_datagram(EVP_CIPHER_CTX *c, uint8_t *dg, const uint8_t *pt, size_t pn);
// dn >= AEAD_HEADER + AEAD_TAG; out gets dn - 36 bytes, zeroed when the tag fails.
bool aead_open_datagram(EVP_CIPHER_CTX *c, const uint8_t *dg, size_t dn, uint8_t *out);
#else
#define SWITCHBACK_HAVE_OPENSSL 0
#endif

#endif
