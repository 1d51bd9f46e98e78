/* grpc_msg: the gRPC length-prefixed message deframer (PROTOCOL-HTTP2.md "Length-Prefixed-
 * Message") and message decompression (gzip, deflate through zlib; zstd if built in), capped in
 * decompressed size and ratio. Incremental: takes DATA bytes in any split. */
#ifndef GRPC_MSG_H
#define GRPC_MSG_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"

typedef struct grpc_deframer {
    uint8_t hdr[5];
    uint8_t hdr_have;
    uint32_t length;       /* of the current message */
    int compressed;
    uint32_t have;         /* body bytes seen so far of the current message */
    gw_buf body;           /* buffered body, capped at max_message (owned) */
    int overflow;          /* current message is larger than max_message: counted, not kept */
    int discard;           /* set by the owner: messages that start from now on are counted, not
                              kept (the views do not need their bodies) */
    int skipping;          /* the current message is being discarded */
    int lost;              /* bytes of the current message were lost */
} grpc_deframer;

/* A complete message. body borrowed until the next feed. */
typedef struct grpc_frame_msg {
    uint32_t length;
    int compressed;
    const uint8_t *body;   /* NULL if overflowed */
    size_t body_len;
    int truncated;         /* overflow or loss */
    int skipped;           /* discarded on purpose (grpc_deframer.discard): body is NULL */
} grpc_frame_msg;

typedef void (*grpc_deframer_cb)(void *u, const grpc_frame_msg *m);

void grpc_deframer_init(grpc_deframer *d, size_t max_message);
void grpc_deframer_free(grpc_deframer *d);
/* Consume all n bytes, calling cb for each message that completes. Returns 0 or GW_ENOMEM. */
int grpc_deframer_feed(grpc_deframer *d, const uint8_t *p, size_t n, grpc_deframer_cb cb, void *u);
/* During the callback: when the message's body is the deframer's own buffer, hand the buffer
 * to the caller (free with gw_free) instead of letting it copy; NULL otherwise (the body pointed
 * into the fed bytes, or there is none). The deframer starts a new buffer for the next one. */
uint8_t *grpc_deframer_take(grpc_deframer *d, const uint8_t *body);
/* Bytes were lost: the message in progress is marked lost; the next prefix cannot be found
 * reliably, so the deframer waits for the next DATA frame that starts a message (reset). */
void grpc_deframer_reset(grpc_deframer *d);
/* (Addition) The stream ended or bytes were lost: a message whose prefix was complete is emitted
 * now with truncated = 1 (body = the bytes that arrived, NULL if over max_message); a partial
 * prefix is dropped. Returns 1 if anything was pending, else 0. Does not enter lost mode. */
int grpc_deframer_flush(grpc_deframer *d, grpc_deframer_cb cb, void *u);
/* A partial message is pending (prefix or body). */
int grpc_deframer_pending(const grpc_deframer *d);

/* Decompress with `encoding` ("gzip", "deflate", "zstd", "identity"). Output appended to out.
 * Returns 0, GW_EUNSUPPORTED (unknown encoding), GW_EPARSE (corrupt), GW_ECAP (over max_out or
 * ratio), GW_ENOMEM. */
int grpc_decompress(const char *encoding, const uint8_t *p, size_t n, gw_buf *out, size_t max_out,
                    unsigned max_ratio);
/* Compress (for our own client/server); gzip only. Returns 0 or an error. */
int grpc_compress_gzip(const uint8_t *p, size_t n, gw_buf *out);
/* Append one length-prefixed message to out, gzip-compressed (flag 1) when gzip is set: what our
 * client and server send. Returns 0, GW_ECAP (over 4 GiB or out's limit) or GW_ENOMEM; out is
 * unchanged on failure. */
int grpc_frame_encode(gw_buf *out, const uint8_t *p, size_t n, int gzip);

#endif
