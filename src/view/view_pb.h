/* view_pb: schemaless renderers of one protobuf message over pb_walk_raw: protoc-style text,
 * a one-line summary for call logs, JSON, and a Wireshark-like tree. Output is appended to a
 * gw_buf (never stdio); nesting is bounded by pb_opts.max_depth, deeper content shows as bytes.
 *
 * JSON mapping (view_pb_json), to be copied into docs/json.md:
 *   - A message is a JSON object keyed by field number as a string: {"1":"world"}. Keys come in
 *     ascending field-number order; a number seen more than once becomes an array of its values
 *     in wire order ({"3":[1,2]}).
 *   - VARINT: a JSON number when <= 2^53 (9007199254740992), else a JSON string of the unsigned
 *     decimal value ("18446744073709551615"). No zigzag or sign guessing: raw unsigned values.
 *   - I32 / I64 (fixed32, fixed64, float, double on the wire): the raw unsigned value, with the
 *     same number/string rule as VARINT (fixed64 can exceed 2^53).
 *   - STRING (printable UTF-8): a JSON string. Control characters are written \n \r \t \b \f or
 *     \u00XX, '"' and '\' are escaped, valid UTF-8 passes through unchanged.
 *   - BYTES: standard base64 (RFC 4648 section 4, with '=' padding) in a JSON string.
 *   - MESSAGE and GROUP: a nested object by the same rules.
 *   - PACKED (bytes that read as more than one varint): an array of numbers (strings past 2^53).
 *   - Readings are guesses (pb_wire.h): an empty length-delimited field is "", a printable string
 *     that also parses as a message stays a string.
 *   - Bytes that are not a protobuf message at all: {"_raw":"<base64 of everything>"}. Damage
 *     after some good fields: the good fields, then "_error":"not a protobuf message from offset
 *     N" and "_rest":"<base64 of the bytes from offset N>". The output is always valid JSON.
 */
#ifndef VIEW_PB_H
#define VIEW_PB_H
#include <stddef.h>
#include <stdint.h>

#include "common/gw_buf.h"
#include "pb/pb_wire.h"

/* All functions return 0, or GW_ECAP / GW_ENOMEM from the buffer (output then is partial).
 * view_pb_json can also return GW_ENOMEM from a scratch allocation. o may be NULL (defaults). */

/* protoc --decode_raw style, one field per line, every line prefixed by `indent` spaces, nested
 * levels by 2 more. The value part is exactly what protoc 3.21 prints (C-escaped strings with
 * octal escapes, fixed32/fixed64 as 0x%08x/0x%016x, nested messages and groups as `N {` ... `}`),
 * so stripping everything from "  # " to the end of a line gives protoc's output, except where we
 * deliberately differ: a printable string that also parses as a message stays a string, and
 * nesting past max_depth shows as a string. Our comments: the zigzag or two's complement reading
 * of a varint, the float/double reading of fixed32/fixed64, the UTF-8 text of a non-ASCII
 * string, "packed [..]" for packed varints (the first 32 values, then ", ... (N values)"), "also
 * parses as a message". Bytes that are not a
 * message end with a line `# not a protobuf message from offset N`. */
int view_pb_text(gw_buf *out, const uint8_t *p, size_t n, int indent, const pb_opts *o);

/* One line for call logs: {1: "world"}, {1: 150, 2: {1: "x"}}, packed as [1, 2], bytes as <hex>,
 * fixed32/64 as a float when that reading is plausible else 0x%08x/0x%016x. Strings use JSON
 * escaping. At most max bytes (0: no limit), ending in "..." when cut (never inside a UTF-8
 * character). Not a message: <N bytes, not protobuf> or the good fields then
 * <not protobuf from offset N>. */
int view_pb_short(gw_buf *out, const uint8_t *p, size_t n, size_t max);

/* JSON as documented at the top of this file, on one line, no trailing newline. */
int view_pb_json(gw_buf *out, const uint8_t *p, size_t n, const pb_opts *o);

/* Wireshark-like lines: "Message: <UNKNOWN>", then per field "Field(N):" with indented
 * "[Field Name: <UNKNOWN>]", the tag bit pattern (".000 1... = Field Number: 1", only for
 * one-byte tags), "Wire Type", "Value Length", "Value: <hex>", and our reading in brackets
 * ("[As string: "world"]", "[As uint64: 150]", "[As float: 1.5]", "[As packed varints: 1, 2]").
 * Nested messages and groups follow as a deeper "Message: <UNKNOWN>". Like Wireshark's labels,
 * long values are cut: 64 bytes of hex or string then "...", 32 packed values. Damage ends with
 * "[Malformed: not a protobuf message from offset N]". `indent` is the starting level; each
 * level is 4 spaces (as tshark -V). */
int view_pb_tree(gw_buf *out, const uint8_t *p, size_t n, int indent, const pb_opts *o);

/* Standard base64 with '=' padding, appended. */
int view_base64(gw_buf *out, const uint8_t *p, size_t n);
/* The same into d, which has room for (n + 2) / 3 * 4 + VIEW_BASE64_SLACK bytes (the bytes past
 * the text may be written too); returns the text's length, (n + 2) / 3 * 4. */
#define VIEW_BASE64_SLACK 32
size_t view_base64_into(uint8_t *d, const uint8_t *p, size_t n);

/* A quoted JSON string. Valid UTF-8 passes through; each byte that is not part of a valid UTF-8
 * sequence becomes \u00XX (its byte value, so the reader can still see it; the Latin-1 reading);
 * '"', '\' and controls are escaped (\n \r \t \b \f, else \u00XX); DEL becomes \u007f. */
int view_json_string(gw_buf *out, const char *s, size_t n);
/* The same into d, which has room for the worst case, 6n+2 bytes; returns the bytes written. */
size_t view_json_string_into(uint8_t *d, const char *s, size_t n);

/* ["a","b"]: a name and a value as a JSON array of two strings, escaped as view_json_string
 * does, into d, which has room for the worst case, 6(an+bn)+7 bytes; returns the bytes written.
 * For header lists. */
size_t view_json_pair_into(uint8_t *d, const char *a, size_t an, const char *b, size_t bn);

/* For tests: which code the byte loops of view_base64 and view_json_string use. 0: the best this
 * CPU runs (the default), 1: the portable scalar code, 2: SSE2 at most (no AVX2). The output is
 * the same whatever the setting. */
void view_pb_force_scalar(int on);
/* For tests: 1 makes view_pb_json write every message the general way (all fields parsed, then
 * sorted and written), 0 (the default) lets its one-pass way take the messages it can. The
 * output is the same whatever the setting. */
void view_pb_force_general(int on);

#endif
