/* view_explain: --explain, plain-language lines for people learning the protocol: what each
 * HTTP/2 frame is for (RFC 9113), how HPACK represented each header field (RFC 7541), what the
 * gRPC 5-byte prefix and the two status codes mean (gRPC PROTOCOL-HTTP2.md), and the TCP
 * packets around them. Text only; every line is `pre` + sentence + `post` (post ends the line). */
#ifndef VIEW_EXPLAIN_H
#define VIEW_EXPLAIN_H
#include "common/gw_buf.h"
#include "capture/cap.h"
#include "grpc/grpc_call.h"
#include "h2/h2_conn.h"

/* The client connection preface (RFC 9113 3.4). */
void view_explain_preface(gw_buf *b, const char *pre, const char *post);
/* One frame: what it is for, its flags, and for a completed header block one line per field. */
void view_explain_frame(gw_buf *b, const h2_frame_rec *fr, const char *pre, const char *post);
/* A gRPC message completed (the 5-byte prefix and what follows). */
void view_explain_message(gw_buf *b, const grpc_call *c, const grpc_msg *m, const char *pre,
                          const char *post);
/* A TCP packet that carried no HTTP/2 frame: handshake, pure ACK, FIN, RST. Nothing for other
 * packets. */
void view_explain_tcp(gw_buf *b, const cap_layers *l, const char *pre, const char *post);
/* How a call ended: grpc-status beside the HTTP status, Trailers-Only, RST_STREAM, deadline. */
void view_explain_call(gw_buf *b, const grpc_call *c, const char *pre, const char *post);

#endif
