/* grpc_status: status names and the mappings a gRPC client applies when the server did not say
 * (doc/statuscodes.md, doc/http-grpc-status-mapping.md, PROTOCOL-HTTP2.md "Errors"), plus the
 * small header codecs: grpc-timeout, grpc-message percent-decoding, base64 for -bin headers. */
#include <stdint.h>

#include "grpc/grpc_call.h"
#include "grpc/grpc_priv.h"

static const char *const status_names[] = {
    "OK",                  /* 0 */
    "CANCELLED",           /* 1 */
    "UNKNOWN",             /* 2 */
    "INVALID_ARGUMENT",    /* 3 */
    "DEADLINE_EXCEEDED",   /* 4 */
    "NOT_FOUND",           /* 5 */
    "ALREADY_EXISTS",      /* 6 */
    "PERMISSION_DENIED",   /* 7 */
    "RESOURCE_EXHAUSTED",  /* 8 */
    "FAILED_PRECONDITION", /* 9 */
    "ABORTED",             /* 10 */
    "OUT_OF_RANGE",        /* 11 */
    "UNIMPLEMENTED",       /* 12 */
    "INTERNAL",            /* 13 */
    "UNAVAILABLE",         /* 14 */
    "DATA_LOSS",           /* 15 */
    "UNAUTHENTICATED",     /* 16 */
};

const char *grpc_status_name(int code)
{
    if (code < 0 || code > 16)
        return "UNKNOWN_STATUS";
    return status_names[code];
}

int grpc_status_from_http(int http_status)
{
    switch (http_status) {
    case 400: return 13; /* INTERNAL */
    case 401: return 16; /* UNAUTHENTICATED */
    case 403: return 7;  /* PERMISSION_DENIED */
    case 404: return 12; /* UNIMPLEMENTED */
    case 429:
    case 502:
    case 503:
    case 504: return 14; /* UNAVAILABLE */
    default: return 2;   /* UNKNOWN, 200 included: a real OK carries grpc-status */
    }
}

int grpc_status_from_h2_error(uint32_t code)
{
    switch (code) {          /* RFC 9113 7 code -> PROTOCOL-HTTP2.md "Errors" */
    case 0x8: return 1;      /* CANCEL -> CANCELLED */
    case 0x7: return 14;     /* REFUSED_STREAM -> UNAVAILABLE */
    case 0xb: return 8;      /* ENHANCE_YOUR_CALM -> RESOURCE_EXHAUSTED */
    case 0xc: return 7;      /* INADEQUATE_SECURITY -> PERMISSION_DENIED */
    default: return 13;      /* NO_ERROR before trailers and every other code -> INTERNAL */
    }
}

/* Timeout -> TimeoutValue TimeoutUnit; value: at most 8 ASCII digits (PROTOCOL-HTTP2.md).
 * 99999999H does not fit in int64 ns, so results saturate at INT64_MAX. */
int64_t grpc_timeout_parse(const char *s, size_t n)
{
    if (!s || n < 2 || n > 9)
        return -1;
    uint32_t u = 0; /* at most 8 digits: fits */
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t dgt = (uint32_t)((unsigned char)s[i] - '0');
        if (dgt > 9)
            return -1;
        u = u * 10 + dgt;
    }
    int64_t v = u;
    int64_t mul;
    switch (s[n - 1]) {
    case 'H': mul = INT64_C(3600000000000); break;
    case 'M': mul = INT64_C(60000000000); break;
    case 'S': mul = INT64_C(1000000000); break;
    case 'm': mul = INT64_C(1000000); break;
    case 'u': mul = INT64_C(1000); break;
    case 'n': mul = 1; break;
    default: return -1;
    }
    if (v > INT64_MAX / mul)
        return INT64_MAX;
    return v * mul;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-Encoded -> "%" 2HEXDIGIT; decoders must not fail on bad input (PROTOCOL-HTTP2.md),
 * so a bad sequence is copied as it came. */
size_t grpc_message_unescape(const char *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval(s[i + 1])) >= 0 &&
            (lo = hexval(s[i + 2])) >= 0) {
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return o;
}

static int b64val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

ptrdiff_t grpc_base64_decode(const char *s, size_t n, uint8_t *out)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (n % 4 == 1)
        return -1; /* 6 bits cannot make a byte */
    return (ptrdiff_t)o;
}
