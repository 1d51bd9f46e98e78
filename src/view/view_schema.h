/* view_schema: renderers of one protobuf message with its schema (pb_schema.h): protoc --decode
 * text format, a one-line summary for the call log, the proto3 JSON mapping (as
 * python-protobuf's json_format with default options, plus unknown fields kept as numbered
 * keys), and a Wireshark-like tree. A field the schema does not fit (wrong wire type, bad UTF-8
 * in a string, a nested message that does not parse) is shown schemaless and marked; damage
 * after good fields ends the message as in view_pb.h. Nesting is bounded by pb_opts.max_depth.
 *
 * JSON specifics (documented in docs/json.md): field keys are json names (lowerCamelCase);
 * 64-bit integers are strings; bytes are base64; enums are value names (numbers when unknown);
 * floats are numbers or "NaN"/"Infinity"/"-Infinity"; maps are objects; Timestamp, Duration,
 * FieldMask, wrappers, Struct/Value/ListValue, Empty and Any (with "@type", resolved through the
 * loaded types) use their JSON forms; proto3 fields without presence that hold their zero value
 * are omitted (as json_format does); unknown fields appear under their number as the schemaless
 * mapping renders them; mismatched fields likewise, and "_mismatch": {"N": "why"} lists them. */
#ifndef VIEW_SCHEMA_H
#define VIEW_SCHEMA_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"
#include "grpc/grpc_call.h"
#include "pb/pb_schema.h"
#include "pb/pb_wire.h"

/* The request (from_client) or response type of a method path, or NULL. */
const pb_msgdef *view_schema_type(const pb_schemas *s, const char *method, int from_client);

/* protoc --decode=TYPE output: known fields in field-number order, then unknown fields as
 * protoc prints them (N: value). Lines prefixed by `indent` spaces. Returns 0 or GW_ENOMEM. */
int view_schema_text(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, int indent, const pb_opts *o);
/* One line: {name: "world", record: {kind: KIND_DATA, samples: [1, 2]}}; at most max bytes
 * (0: no limit) ending in "..." when cut. */
int view_schema_short(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                      size_t n, size_t max);
/* The proto3 JSON mapping on one line (see above). */
int view_schema_json(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, const pb_opts *o);
/* "Message: pkg.Type" then per field "Field(N): name (type)" with the tag lines and value, like
 * Wireshark with a .proto loaded. indent as view_pb_tree. */
int view_schema_tree(gw_buf *out, const pb_schemas *s, const pb_msgdef *m, const uint8_t *p,
                     size_t n, int indent, const pb_opts *o);

/* --guess-methods: the known method whose input type reads the request bytes cleanly (every
 * field known with the right wire type, strings valid UTF-8, nested messages likewise) and
 * best, with the response bytes (may be NULL) as a tie-breaker through the output type.
 * Returns the method and writes "/pkg.Svc/Method" to path (cap >= 2) and a score in 0..1, or
 * NULL when nothing fits. */
const pb_methoddef *view_schema_guess(const pb_schemas *s, const uint8_t *req, size_t req_n,
                                      const uint8_t *resp, size_t resp_n, char *path, size_t cap,
                                      double *score);

/* --guess-methods for a call whose request headers were never captured (method NULL): uses its
 * first request and response messages. 1 with path and score set, else 0 (also when guessing
 * is off: pb_schemas_guess). */
int view_schema_call_guess(const pb_schemas *s, const grpc_call *c, char *path, size_t cap,
                           double *score);

/* For tests: 1 makes view_schema_json write every message the general way (split, sorted, then
 * written), 0 (the default) lets its one-pass way take the messages it can. The output is the
 * same whatever the setting. */
void view_schema_force_general(int on);

#endif
