/* gw_err: the project's one error table. Functions return 0 (or a count) on success and a
 * negative GW_E* on failure; gw_strerror() turns one into a static message. */
#ifndef GW_ERR_H
#define GW_ERR_H

enum gw_err_index_ {
#define XX(name, msg) GW_E##name##_IDX_,
#include "gw_err.def"
#undef XX
    GW_ERR_COUNT_
};

/* GW_E<NAME> = -(its position in gw_err.def + 1); GW_OK = 0. */
enum gw_err {
    GW_OK = 0,
#define XX(name, msg) GW_E##name = -(GW_E##name##_IDX_ + 1),
#include "gw_err.def"
#undef XX
};

/* Parsers return this when they need more bytes (STYLE: bytes consumed, GW_INCOMPLETE or error). */
#define GW_INCOMPLETE GW_EINCOMPLETE

const char *gw_strerror(int err);
const char *gw_errname(int err);

#endif
