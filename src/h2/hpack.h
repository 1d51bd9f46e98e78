/* hpack: an HPACK decoder (RFC 7541) that reports how each field was represented, for views that
 * show the wire. Per direction of a connection. It tolerates a capture that began after the
 * connection did: references to dynamic entries inserted before the capture are reported as
 * unknown (never guessed) and the block goes on. Limits: table size (bounded by
 * SETTINGS_HEADER_TABLE_SIZE), header list size, string length (hpack_opts). */
#ifndef HPACK_H
#define HPACK_H
#include <stddef.h>
#include <stdint.h>

enum hpack_rep { /* RFC 7541 6 */
    HPACK_INDEXED = 1,           /* 6.1 Indexed Header Field */
    HPACK_INC_INDEXED_NAME,      /* 6.2.1 with Incremental Indexing - Indexed Name */
    HPACK_INC_NEW_NAME,          /* 6.2.1 with Incremental Indexing - New Name */
    HPACK_NOIDX_INDEXED_NAME,    /* 6.2.2 without Indexing - Indexed Name */
    HPACK_NOIDX_NEW_NAME,        /* 6.2.2 without Indexing - New Name */
    HPACK_NEVER_INDEXED_NAME,    /* 6.2.3 Never Indexed - Indexed Name */
    HPACK_NEVER_NEW_NAME,        /* 6.2.3 Never Indexed - New Name */
};
/* Wireshark's wording: "Literal Header Field with Incremental Indexing - Indexed Name". */
const char *hpack_rep_name(int rep);

/* One decoded field. name/value are borrowed until the next call on the decoder. */
typedef struct hpack_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
    uint8_t rep;          /* enum hpack_rep */
    uint32_t index;       /* table index referenced (0 for a new name) */
    uint8_t name_huff;    /* the literal name was Huffman coded */
    uint8_t value_huff;
    uint32_t name_wire;   /* octets of the encoded name string (0 if indexed) */
    uint32_t value_wire;  /* octets of the encoded value string (0 if indexed) */
    uint8_t unknown_name; /* refers to a dynamic entry inserted before the capture began */
    uint8_t unknown_value;/* (name/value are then empty and not to be trusted) */
    /* (Addition) When nonzero, a static table index (1..61) whose name is exactly this field's
     * name, known without comparing: the field named a static entry, or a dynamic entry that
     * was inserted naming one. 0 says nothing (the name may still be a static one). */
    uint8_t name_static;
} hpack_field;

typedef struct hpack_opts {
    size_t max_table_size;       /* the SETTINGS_HEADER_TABLE_SIZE in force; 4096 by default */
    size_t max_header_list;      /* decoded octets (RFC 9113 6.5.2 counting) per block */
    size_t max_string;           /* one decoded string */
} hpack_opts;
void hpack_opts_default(hpack_opts *o);

typedef struct hpack_decoder hpack_decoder;

/* synced: 1 when the decoder saw this direction from its first header block; 0 for a capture
 * that began mid-connection (unknown earlier entries). Returns NULL on allocation failure. */
hpack_decoder *hpack_decoder_new(const hpack_opts *opts, int synced);
void hpack_decoder_del(hpack_decoder *d);
/* The peer's SETTINGS_HEADER_TABLE_SIZE as acknowledged: the bound for size updates. */
void hpack_decoder_set_max_table_size(hpack_decoder *d, size_t max);
/* After a gap in the byte stream: earlier entries may have been lost. */
void hpack_decoder_desync(hpack_decoder *d);
/* 1 when every dynamic entry is known (from the start, or provably again). */
int hpack_decoder_synced(const hpack_decoder *d);

/* Called once per field in order. Return nonzero to stop decoding (the block then returns 0). */
typedef int (*hpack_field_cb)(void *u, const hpack_field *f);

/* Decode one complete header block (HEADERS + CONTINUATION payloads joined).
 * Returns 0, or a negative error when the block is malformed: GW_EPARSE (bad integer, bad
 * Huffman, bad index, size update over the bound or after a field), GW_ECAP (header list or
 * string over the limit). `why` then points at a static reason. Fields before the damage were
 * already delivered. After an error the table is in an unknown state and the decoder marks
 * itself unsynced. */
int hpack_decode_block(hpack_decoder *d, const uint8_t *p, size_t n, hpack_field_cb cb, void *u,
                       const char **why);
/* (Addition) hpack_decode_block delivering into the caller's growable array instead of a
 * callback per field: the block's fields are appended at (*fields)[*nfields], and *fields grows
 * (gw_realloc, capacity in *cap, doubling from 16; owned by the caller, free with gw_free). When
 * it cannot grow, decoding goes on (the table must keep in step), later fields are not kept but
 * passed to spill (if not NULL; its return value is ignored), and *dropped is set to 1 (else 0).
 * *unknown is set to 1 when a field (kept or not) has unknown_name or unknown_value (else 0).
 * Returns and *why as hpack_decode_block. */
int hpack_decode_block_into(hpack_decoder *d, const uint8_t *p, size_t n, hpack_field **fields,
                            size_t *nfields, size_t *cap, hpack_field_cb spill, void *u,
                            int *dropped, int *unknown, const char **why);

/* (Addition) hpack_decode_block_into with its arguments and results in one struct (fewer to
 * pass per block), and one more result. fields, nfields, cap, spill and u are as there (the
 * array persists across calls); dropped, unknown and why are set by each call as there.
 * field_bytes: when the call returns 0 with dropped 0, the sum over the fields it appended of
 * name_len + value_len + 2; else 0. */
typedef struct hpack_into {
    hpack_field *fields;
    size_t nfields, cap;
    hpack_field_cb spill;
    void *u;
    int dropped, unknown;
    const char *why;
    size_t field_bytes;
} hpack_into;
int hpack_decode_into(hpack_decoder *d, const uint8_t *p, size_t n, hpack_into *io);

/* Huffman (RFC 7541 5.2, Appendix B). Decodes n octets into out (capacity outcap); returns the
 * decoded length or GW_EPARSE (invalid code, EOS, padding over 7 bits or not all ones) or
 * GW_ECAP (outcap too small). */
ptrdiff_t hpack_huff_decode(const uint8_t *p, size_t n, uint8_t *out, size_t outcap);
/* Encoders, for tests and for our own HTTP/2 traffic synthesis. */
size_t hpack_huff_encoded_len(const uint8_t *p, size_t n);
size_t hpack_huff_encode(const uint8_t *p, size_t n, uint8_t *out);

/* Static table (RFC 7541 Appendix A): index 1..61; NULL outside it. */
const char *hpack_static_name(uint32_t index);
const char *hpack_static_value(uint32_t index);

#endif
