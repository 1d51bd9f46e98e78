/* rpc: gRPC over HTTP/2 cleartext (h2c, prior knowledge) on libnghttp2. A server that dispatches
 * calls by method path to handlers run on its event-loop threads (one epoll loop per thread,
 * SO_REUSEPORT), and a client channel that multiplexes calls on one connection, driven by the
 * caller. Messages are opaque bytes here: encode them with pb_wire. Limits: 4 MiB per message each
 * way by default (RESOURCE_EXHAUSTED beyond), gzip is the only compression we send. */
#ifndef RPC_H
#define RPC_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"

#define RPC_MAX_MESSAGE (4u << 20) /* gRPC's default receive limit */

/* gRPC status codes (grpc/doc/statuscodes.md). */
enum rpc_status {
    RPC_OK = 0, RPC_CANCELLED = 1, RPC_UNKNOWN = 2, RPC_INVALID_ARGUMENT = 3,
    RPC_DEADLINE_EXCEEDED = 4, RPC_NOT_FOUND = 5, RPC_ALREADY_EXISTS = 6,
    RPC_PERMISSION_DENIED = 7, RPC_RESOURCE_EXHAUSTED = 8, RPC_FAILED_PRECONDITION = 9,
    RPC_ABORTED = 10, RPC_OUT_OF_RANGE = 11, RPC_UNIMPLEMENTED = 12, RPC_INTERNAL = 13,
    RPC_UNAVAILABLE = 14, RPC_DATA_LOSS = 15, RPC_UNAUTHENTICATED = 16,
};

/* One metadata entry. -bin values are raw bytes on our side; base64 is done at the wire. */
typedef struct rpc_md {
    const char *name;  /* lowercase */
    const char *value;
    size_t value_len;
} rpc_md;

/* ---------------------------------------------------------------- server */
typedef struct rpc_server rpc_server;
typedef struct rpc_call rpc_call; /* one server-side call; valid until its on_end returns */

enum rpc_kind { RPC_UNARY, RPC_SERVER_STREAMING, RPC_CLIENT_STREAMING, RPC_BIDI };

/* Handlers run on the loop thread that owns the connection, never concurrently for one call. */
typedef struct rpc_handler {
    const char *path; /* "/helloworld.Greeter/SayHello"; copied */
    int kind;         /* enum rpc_kind; unary kinds get exactly one message or INTERNAL */
    /* A request message, decompressed. May send, finish or arm a timer. */
    void (*on_message)(rpc_call *c, const uint8_t *p, size_t n, void *u);
    /* The client half-closed (NULL: nothing to do). */
    void (*on_half_close)(rpc_call *c, void *u);
    /* The call is over (finished, cancelled by the peer or the deadline, connection lost):
     * release per-call state. May be NULL. */
    void (*on_end)(rpc_call *c, void *u);
    void *u;
} rpc_handler;

typedef struct rpc_server_opts {
    int threads;            /* event-loop threads (default: CPUs in our affinity mask, at most 64) */
    size_t max_recv;        /* largest request message (default RPC_MAX_MESSAGE) */
    unsigned max_streams;   /* SETTINGS_MAX_CONCURRENT_STREAMS (default 1000) */
    int64_t ping_wait_ms;   /* shutdown: wait this long for the PING ACK (default 1000) */
} rpc_server_opts;
void rpc_server_opts_default(rpc_server_opts *o);

/* opts may be NULL. Returns NULL on out of memory. */
rpc_server *rpc_server_new(const rpc_server_opts *o);
/* Register a method before rpc_server_start. Returns 0, GW_EINVAL (duplicate), GW_ENOMEM. */
int rpc_server_add(rpc_server *s, const rpc_handler *h);
/* Bind "[::]:50051", "127.0.0.1:0", ":50051", "localhost:8080" ("[::]" is dual stack). One
 * listening socket per thread with SO_REUSEPORT. bound (may be NULL) receives the address
 * actually bound, "[::]:50051" style. Returns 0, GW_EINVAL (bad address), GW_ESYS (errno set). */
int rpc_server_listen(rpc_server *s, const char *addr, char *bound, size_t bound_cap);
/* Start the loop threads. Returns 0 or GW_ESYS/GW_ENOMEM. */
int rpc_server_start(rpc_server *s);
/* Begin a graceful shutdown as grpc-go does: stop accepting, GOAWAY(2^31-1) + PING, GOAWAY(last
 * stream id) on the PING ACK, let in-flight calls finish, then the threads exit.
 * Async-signal-safe (it only writes to eventfds). */
void rpc_server_shutdown(rpc_server *s);
/* Wait for the threads to exit. Returns 0. */
int rpc_server_wait(rpc_server *s);
/* Frees everything; the threads must have exited (or never started). NULL is fine. */
void rpc_server_del(rpc_server *s);

const char *rpc_call_path(const rpc_call *c);
/* Request metadata by lowercase name (last one wins); -bin values are base64-decoded (padded or
 * not). NULL if absent. */
const char *rpc_call_metadata(const rpc_call *c, const char *name, size_t *len);
/* All request metadata (no pseudo-headers, no reserved grpc- headers, te or content-type): index i < count. */
size_t rpc_call_metadata_count(const rpc_call *c);
int rpc_call_metadata_at(const rpc_call *c, size_t i, rpc_md *out);
/* Response headers/trailers to send; -bin values are base64-encoded for the wire. Headers only
 * before the first send or finish. Returns 0, GW_EINVAL (too late), GW_ENOMEM. */
int rpc_call_add_header(rpc_call *c, const char *name, const void *value, size_t len);
int rpc_call_add_trailer(rpc_call *c, const char *name, const void *value, size_t len);
/* Compress responses with gzip, if the client's grpc-accept-encoding allows it. */
void rpc_call_set_compress(rpc_call *c, int on);
/* Queue a response message. Returns 0, GW_EINVAL (finished), GW_ENOMEM. */
int rpc_call_send(rpc_call *c, const uint8_t *p, size_t n);
/* End the call with a status; message (may be NULL) is percent-encoded on the wire. Returns 0 or
 * GW_EINVAL (already finished). */
int rpc_call_finish(rpc_call *c, int status, const char *message);
/* One timer per call (re-arming replaces it); cancelled when the call ends. */
void rpc_call_timer(rpc_call *c, int64_t ms, void (*fn)(rpc_call *c, void *u), void *u);
void rpc_call_set_user(rpc_call *c, void *user);
void *rpc_call_user(const rpc_call *c);
/* 1 if the last request message arrived compressed (interop's expect_compressed). */
int rpc_call_compressed(const rpc_call *c);
/* Response bytes queued by rpc_call_send that HTTP/2 flow control has not let out yet: a handler
 * producing much output waits (rpc_call_timer) while this is large. */
size_t rpc_call_pending(const rpc_call *c);

/* ---------------------------------------------------------------- client */
typedef struct rpc_channel rpc_channel;
typedef struct rpc_ccall rpc_ccall; /* one client-side call; valid until its on_done returns */

typedef struct rpc_call_opts {
    int64_t timeout_ms;      /* deadline, sent as grpc-timeout (0: none) */
    int gzip;                /* compress request messages with gzip */
    const rpc_md *metadata;  /* extra request metadata (borrowed during rpc_channel_call) */
    size_t n_metadata;
    size_t max_recv;         /* largest response message (0: RPC_MAX_MESSAGE) */
} rpc_call_opts;

typedef struct rpc_client_cbs {
    void (*on_headers)(rpc_ccall *c, void *u);                         /* may be NULL */
    void (*on_message)(rpc_ccall *c, const uint8_t *p, size_t n, void *u); /* decompressed */
    /* The call ended; message is percent-decoded (never NULL). c is freed when this returns. */
    void (*on_done)(rpc_ccall *c, int status, const char *message, void *u);
    void *u;
} rpc_client_cbs;

/* Connect (blocking, each resolved address in turn) to "host:port", "[::1]:port" or "host"
 * (port 50051). why (may be NULL) receives a reason on failure. Returns NULL on failure. */
rpc_channel *rpc_channel_new(const char *addr, char *why, size_t why_cap);
/* Start a call: the request HEADERS go out on the next rpc_channel_run. opts may be NULL.
 * Returns NULL (out of memory, connection gone). */
rpc_ccall *rpc_channel_call(rpc_channel *ch, const char *path, const rpc_call_opts *o,
                            const rpc_client_cbs *cb);
int rpc_ccall_send(rpc_ccall *c, const uint8_t *p, size_t n); /* 0, GW_EINVAL, GW_ENOMEM */
int rpc_ccall_close_send(rpc_ccall *c);
void rpc_ccall_cancel(rpc_ccall *c); /* RST_STREAM(CANCEL); on_done reports CANCELLED */
/* Response headers (with :status) and trailers received so far; wire values (-bin in base64). */
size_t rpc_ccall_headers(const rpc_ccall *c, const rpc_md **md);
size_t rpc_ccall_trailers(const rpc_ccall *c, const rpc_md **md);
/* Request headers as sent (for -v). */
size_t rpc_ccall_request_headers(const rpc_ccall *c, const rpc_md **md);
/* Drive the connection until no call is active, or timeout_ms passes (-1: no limit). Returns 0,
 * GW_ETIMEOUT, or GW_ECLOSED if the connection was lost (open calls end UNAVAILABLE). */
int rpc_channel_run(rpc_channel *ch, int64_t timeout_ms);
void rpc_channel_del(rpc_channel *ch);

/* Blocking unary call: reply appended to out, *message (may be NULL) gets an owned copy of
 * grpc-message (gw_free it). Returns the gRPC status, or a negative GW_E* for our own failures. */
int rpc_unary(rpc_channel *ch, const char *path, const uint8_t *req, size_t n,
              const rpc_call_opts *o, gw_buf *out, char **message);

/* ---------------------------------------------------------------- helloworld.Greeter */
/* HelloRequest { string name = 1; } and HelloReply { string message = 1; } share a shape. */
int rpc_hello_encode(gw_buf *b, const char *s, size_t n);
/* Field 1 as a borrowed string ("" if absent). Returns 0 or GW_EPARSE. */
int rpc_hello_decode(const uint8_t *p, size_t n, const char **s, size_t *len);
/* SayHello, SayHelloStreamReply (3 replies), SayHelloBidiStream (one reply per request). */
int rpc_greeter_register(rpc_server *s);

/* ---------------------------------------------------------------- grpc.testing (interop) */
/* grpc.testing.TestService as gRPC's interop servers serve it (doc/interop-test-descriptions.md):
 * EmptyCall, UnaryCall, StreamingInputCall, StreamingOutputCall, FullDuplexCall, HalfDuplexCall,
 * with echoed metadata and status; UnimplementedCall stays unregistered (12). */
int rpc_interop_register(rpc_server *s);
/* Names of the client cases we implement, NULL-terminated. */
extern const char *const rpc_interop_cases[];
/* Run one interop case (e.g. "large_unary") against a TestService at addr. Returns 0 when it
 * passed; otherwise 1 with the reason in why. */
int rpc_interop_client(const char *addr, const char *test_case, char *why, size_t why_cap);

#endif
