// The TUN device of tun.c, as the native fast path (fastpath.c) sees it:
// the same batched, coalescing write the JS side uses.
#ifndef SWITCHBACK_TUN_H
#define SWITCHBACK_TUN_H

#include <node_api.h>
#include <uv.h>

#include "js-callback.h"
#include "offload.h"

#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdbool.h>
#include <stdint.h>

#define READ_SIZE (65536 + VNET_HDR_LEN) // an IP packet is at most 65535 bytes; never truncate
#define BATCH_MAX 64                      // reads per wake-up, and about the packets per JS call: keeps the loop fair
#define OFFLOADS (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
#define SEG_SCRATCH (2 * READ_SIZE)       // the packets cut from one read, and then some

struct fastpath;

// Counters of the offload paths, returned by offloadStats() in this order.
enum {
  ST_RX_SUPER,     // reads that held a TSO super-packet
  ST_RX_SEGMENTS,  // packets cut from them
  ST_RX_CSUM,      // packets whose partial checksum was finished here
  ST_RX_BAD,       // reads dropped: a virtio header that does not fit the packet
  ST_TX_SUPER,     // writes that carried several packets
  ST_TX_COALESCED, // packets inside those writes
  ST_TX_FALLBACK,  // super-packets the kernel refused, then written one by one
  ST_COUNT
};

typedef struct {
  napi_env env;
  int fd;
  char name[IFNAMSIZ];
  uv_poll_t *poll;          // non-NULL while reading
  js_callback_t cb;         // set while reading
  uint8_t *buf;
  bool vnet;                // every read and write starts with a virtio_net_hdr
  bool offload;             // ... and the kernel agreed to TSO (TUNSETOFFLOAD)
  double stats[ST_COUNT];
  coalesced_t *out;         // writeBatch's scratch: COALESCE_BATCH_MAX entries, off the stack
  // The native fast path hooked to this device (fastpath.c), or NULL: it
  // takes the packets it can forward before they are handed to JS; it
  // reads this device as access port `fp_slot`.
  struct fastpath *fp;
  uint32_t fp_slot;
  uint8_t *seg;             // packets cut from one read, before they go to the fast path or JS
  size_t seg_used;
  uint32_t last_reads;      // packets read at the last wake-up
  uint64_t last_wake_ms;    // loop time of the last wake-up
} tun_t;

// Set on every Tun object (napi_type_tag_object), so a FastPath is never handed something else.
extern const napi_type_tag TUN_TAG;

// Writes up to COALESCE_BATCH_MAX packets, coalescing TCP segments where the
// device has offloads; results[i] is packet i's length or -errno. Returns
// the system calls made.
uint32_t tun_write_spans(tun_t *t, const span_t *pkts, uint32_t k, int32_t *results);

#endif
