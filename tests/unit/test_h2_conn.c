/* test_h2_conn: whole synthetic connections (the seed's helloworld call with its preface,
 * SETTINGS, WINDOW_UPDATE and PING) through h2_conn, every callback serialised to a log; the same
 * input whole, byte at a time and at random split points gives the same log. Mid-connection
 * starts, gaps, CONTINUATION, limits, SETTINGS_HEADER_TABLE_SIZE, and traffic that is not HTTP/2. */
#include <stdlib.h>

#include "gw_buf.h"
#include "gw_err.h"
#include "gw_mem.h"
#include "gw_test.h"
#include "h2/h2_conn.h"

/* ---- the log ------------------------------------------------------------------------------ */

typedef struct logctx {
    gw_buf log;
    int nframes, nblocks, ndetect;
} logctx;

static void on_preface(void *u, h2_conn *h, int dir, uint64_t pkt, int64_t ts)
{
    logctx *l = u;
    gw_buf_printf(&l->log, "preface d%d pkt%" PRIu64 " ts%" PRId64 "\n", dir, pkt, ts);
}

static void esc(gw_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x21 && c < 0x7f && c != '\\')
            gw_buf_putc(b, c);
        else
            gw_buf_printf(b, "\\x%02x", c);
    }
}

static int g_full; /* on_frame also logs every member of the record (differential tests) */

static void hex_or_null(gw_buf *b, const char *tag, const uint8_t *p, size_t n)
{
    gw_buf_printf(b, " %s=", tag);
    if (!p) {
        gw_buf_printf(b, "NULL");
        return;
    }
    for (size_t i = 0; i < n; i++)
        gw_buf_printf(b, "%02x", p[i]);
}

/* Every member of the record that is not a pointer into the input, and the bytes of those that
 * are: records of the fast path and of the general one compare equal only if they are. */
static void log_full(gw_buf *b, const h2_frame_rec *r)
{
    const h2_frame *f = &r->f;
    gw_buf_printf(b, " |R%u", f->reserved);
    hex_or_null(b, "p", f->payload, f->length);
    hex_or_null(b, "d", f->data, f->data_len);
    gw_buf_printf(b, " dl%u pad%u pri%u ex%u dep%u w%u err%u prom%u last%u inc%u ns%u", f->data_len,
                  f->pad_len, f->has_priority, f->exclusive, f->dep_stream, f->weight,
                  f->error_code, f->promised_id, f->last_stream_id, f->window_increment,
                  f->nsettings);
    gw_buf_printf(b, " hb%d bs%u bt%u be%u bl%zu nf%zu he%d hw=%s hu%d fb%zu", r->has_block,
                  r->block_stream, r->block_type, r->block_end_stream, r->block_len, r->nfields,
                  r->hpack_err, r->hpack_why ? r->hpack_why : "-", r->hpack_unknown,
                  r->field_bytes);
    if (!r->has_block && r->fields)
        gw_buf_printf(b, " STALE-FIELDS");
}

static void on_frame(void *u, h2_conn *h, const h2_frame_rec *r)
{
    logctx *l = u;
    gw_buf *b = &l->log;
    l->nframes++;
    gw_buf_printf(b, "frame d%d c%d off%" PRIu64 " pkt%" PRIu64 "-%" PRIu64 " ts%" PRId64 " %s f%02x s%u len%u",
                  r->dir, r->from_client, r->off, r->first_pkt, r->last_pkt, r->ts_ns,
                  h2_frame_type_name(r->f.type), r->f.flags, r->f.stream_id, r->f.length);
    if (r->f.anomaly)
        gw_buf_printf(b, " anomaly=\"%s\"", r->f.anomaly);
    if (g_full)
        log_full(b, r);
    /* h2_conn does not clear records wholesale: a frame without a block must still show none. */
    if (!r->has_block && (r->block_stream || r->block_type || r->block_end_stream || r->block_len ||
                          r->fields || r->nfields || r->hpack_err || r->hpack_why ||
                          r->hpack_unknown))
        gw_buf_printf(b, " STALE-BLOCK-FIELDS");
    if (r->has_block) {
        l->nblocks++;
        gw_buf_printf(b, " block(s%u t%u es%u len%zu err%d unk%d)", r->block_stream, r->block_type,
                      r->block_end_stream, r->block_len, r->hpack_err, r->hpack_unknown);
        for (size_t i = 0; i < r->nfields; i++) {
            const hpack_field *f = &r->fields[i];
            gw_buf_printf(b, "\n  ");
            esc(b, f->name, f->name_len);
            gw_buf_printf(b, ": ");
            esc(b, f->value, f->value_len);
            gw_buf_printf(b, " rep%u idx%u", f->rep, f->index);
        }
    }
    gw_buf_putc(b, '\n');
}

static void on_skip(void *u, h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why,
                    uint64_t pkt, int64_t ts)
{
    logctx *l = u;
    gw_buf_printf(&l->log, "skip d%d off%" PRIu64 " len%" PRIu64 " \"%s\" pkt%" PRIu64 "\n", dir, off,
                  len, why, pkt);
}

static void on_anomaly(void *u, h2_conn *h, int dir, uint32_t stream, uint64_t pkt, const char *what)
{
    logctx *l = u;
    gw_buf_printf(&l->log, "anomaly d%d s%u pkt%" PRIu64 " \"%s\"\n", dir, stream, pkt, what);
}

static void on_detect(void *u, h2_conn *h, int state)
{
    logctx *l = u;
    l->ndetect++;
    gw_buf_printf(&l->log, "detect %s\n", state == H2_YES ? "yes" : state == H2_NO ? "no" : "?");
}

/* ---- connections as packet lists ---------------------------------------------------------- */

typedef struct pkt {
    uint64_t no;
    int dir;
    const char *hex; /* NULL: a gap of `gap` bytes */
    size_t gap;
} pkt;

enum { WHOLE, BYTES, RANDOM };

typedef struct conn_spec {
    const pkt *pkts;
    size_t npkts;
    int syn;         /* handshake seen */
    int client_how;  /* initial tcp_conn client_how (client is ep[0]) */
} conn_spec;

static size_t unhex_alloc(const char *hex, uint8_t **out)
{
    size_t n = gw_test_unhex(hex, NULL, 0);
    *out = malloc(n ? n : 1);
    gw_test_unhex(hex, *out, n);
    return n;
}

/* Runs the connection and returns the log (malloc'd); *state and *synced receive the result. */
static char *run(const conn_spec *cs, const h2_opts *opts, int mode, unsigned seed, int *state,
                 int synced[2], tcp_conn *tc_out)
{
    tcp_conn tc;
    memset(&tc, 0, sizeof tc);
    tc.syn[0] = tc.syn[1] = (uint8_t)cs->syn;
    tc.client = 0;
    tc.client_how = cs->client_how;
    logctx l;
    memset(&l, 0, sizeof l);
    gw_buf_init(&l.log, 0);
    h2_callbacks cb = {&l, on_preface, on_frame, on_skip, on_anomaly, on_detect};
    h2_conn *h = h2_conn_new(opts, &cb, &tc);
    uint64_t off[2] = {0, 0};
    srand(seed);
    for (size_t i = 0; i < cs->npkts; i++) {
        const pkt *p = &cs->pkts[i];
        int64_t ts = (int64_t)p->no * 1000;
        if (!p->hex) {
            h2_conn_gap(h, p->dir, off[p->dir], p->gap, p->no, ts);
            off[p->dir] += p->gap;
            continue;
        }
        uint8_t *b;
        size_t n = unhex_alloc(p->hex, &b);
        size_t pos = 0;
        while (pos < n) {
            size_t take = n - pos;
            if (mode == BYTES)
                take = 1;
            else if (mode == RANDOM)
                take = 1 + (size_t)rand() % (take < 40 ? take : 40);
            /* a copy of exactly the piece, so reading past it is caught by ASan */
            uint8_t *piece = malloc(take);
            memcpy(piece, b + pos, take);
            h2_conn_data(h, p->dir, off[p->dir] + pos, piece, take, p->no, ts);
            free(piece);
            pos += take;
        }
        off[p->dir] += n;
        free(b);
    }
    if (state)
        *state = h2_conn_state(h);
    if (synced) {
        synced[0] = h2_conn_hpack_synced(h, 0);
        synced[1] = h2_conn_hpack_synced(h, 1);
    }
    GW_CHECK(h2_conn_tcp(h) == &tc);
    if (tc_out)
        *tc_out = tc;
    h2_conn_del(h);
    gw_buf_putc(&l.log, 0);
    char *s = gw_strdup((const char *)l.log.data);
    gw_buf_free(&l.log);
    return s;
}

/* Same log whole, byte at a time and at random split points. Returns the whole-packet log. */
static char *run_all(const conn_spec *cs, const h2_opts *opts, int *state, int synced[2],
                     tcp_conn *tc)
{
    char *whole = run(cs, opts, WHOLE, 0, state, synced, tc);
    char *bytes = run(cs, opts, BYTES, 0, NULL, NULL, NULL);
    GW_CHECK_STR(bytes, whole);
    gw_free(bytes);
    for (unsigned seed = 1; seed <= 30; seed++) {
        char *r = run(cs, opts, RANDOM, seed, NULL, NULL, NULL);
        if (strcmp(r, whole) != 0)
            fprintf(stderr, "random split seed %u differs:\n%s\n--- whole:\n%s\n", seed, r, whole);
        GW_CHECK(strcmp(r, whole) == 0);
        gw_free(r);
    }
    return whole;
}

static void check_log(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fprintf(stderr, "log differs.\n--- got:\n%s--- want:\n%s---\n", got, want);
    GW_CHECK(strcmp(got, want) == 0);
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- the seed ----------------------------------------------------------------------------- */

#define PREFACE_HEX "505249202a20485454502f322e300d0a0d0a534d0d0a0d0a"
#define SEED12_BLOCK                                                                           \
    "838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d139d09b8d800d87f5f8b1d75d0620d" \
    "263d4c4d65647a8a9acac8b4c7602bb8cae040027465864d833505b11f40899acac8b24d494f6a7f857df7c4d8" \
    "2d"
#define SEED12_HEADERS "00005b 01 04 00000001" SEED12_BLOCK
#define SEED12_DATA "00000c 00 01 00000001 00 00000007 0a05776f726c64"
#define SEED12 "000000 04 01 00000000" SEED12_HEADERS SEED12_DATA
#define SEED15                                                                                 \
    "00000e 01 04 00000001 885f8b1d75d0620d263d4c4d6564"                                       \
    "000012 00 00 00000001 00 0000000d 0a0b48656c6c6f20776f726c64"                             \
    "000018 01 05 00000001 40889acac8b21234da8f013040899acac8b5254207317f00"
#define SRV_SETTINGS "000006 04 00 00000000 0005 00004000"
#define SETTINGS_EMPTY "000000 04 00 00000000"
#define SETTINGS_ACK "000000 04 01 00000000"
#define WINDOW_PING "000004 08 00 00000000 0000000c 000008 06 00 00000000 0102030405060708"
#define PING_ACK "000008 06 01 00000000 0102030405060708"
/* A second call on stream 3: GET http / (static entries only), then its message. */
#define CALL3 "000003 01 04 00000003 828684 000007 00 01 00000003 00 00000002 0a00"

#define REQ_FIELDS                                                                             \
    "\n  :method: POST rep1 idx3"                                                              \
    "\n  :scheme: http rep1 idx6"                                                              \
    "\n  :path: /helloworld.Greeter/SayHello rep2 idx5"                                        \
    "\n  :authority: localhost:50051 rep2 idx1"                                                \
    "\n  content-type: application/grpc rep2 idx31"                                            \
    "\n  user-agent: grpc-go/1.63.0 rep2 idx58"                                                \
    "\n  te: trailers rep3 idx0"                                                               \
    "\n  grpc-timeout: 999250u rep3 idx0"
#define RESP_FIELDS "\n  :status: 200 rep1 idx8\n  content-type: application/grpc rep2 idx31"
#define TRAILER_FIELDS "\n  grpc-status: 0 rep3 idx0\n  grpc-message:  rep3 idx0"

static const pkt full[] = {
    {4, 0, PREFACE_HEX, 0},
    {6, 1, SRV_SETTINGS, 0},
    {8, 0, SETTINGS_EMPTY, 0},
    {10, 1, SETTINGS_ACK, 0},
    {12, 0, SEED12, 0},
    {13, 1, WINDOW_PING, 0},
    {14, 0, PING_ACK, 0},
    {15, 1, SEED15, 0},
};

static const char full_log[] =
    "detect yes\n"
    "preface d0 pkt4 ts4000\n"
    "frame d1 c0 off0 pkt6-6 ts6000 SETTINGS f00 s0 len6\n"
    "frame d0 c1 off24 pkt8-8 ts8000 SETTINGS f00 s0 len0\n"
    "frame d1 c0 off15 pkt10-10 ts10000 SETTINGS f01 s0 len0\n"
    "frame d0 c1 off33 pkt12-12 ts12000 SETTINGS f01 s0 len0\n"
    "frame d0 c1 off42 pkt12-12 ts12000 HEADERS f04 s1 len91 block(s1 t1 es0 len91 err0 unk0)"
    REQ_FIELDS "\n"
    "frame d0 c1 off142 pkt12-12 ts12000 DATA f01 s1 len12\n"
    "frame d1 c0 off24 pkt13-13 ts13000 WINDOW_UPDATE f00 s0 len4\n"
    "frame d1 c0 off37 pkt13-13 ts13000 PING f00 s0 len8\n"
    "frame d0 c1 off163 pkt14-14 ts14000 PING f01 s0 len8\n"
    "frame d1 c0 off54 pkt15-15 ts15000 HEADERS f04 s1 len14 block(s1 t1 es0 len14 err0 unk0)"
    RESP_FIELDS "\n"
    "frame d1 c0 off77 pkt15-15 ts15000 DATA f00 s1 len18\n"
    "frame d1 c0 off104 pkt15-15 ts15000 HEADERS f05 s1 len24 block(s1 t1 es1 len24 err0 unk0)"
    TRAILER_FIELDS "\n";

static void test_full(void)
{
    conn_spec cs = {full, sizeof full / sizeof full[0], 1, TCP_CLIENT_SYN};
    int state, synced[2];
    char *log = run_all(&cs, NULL, &state, synced, NULL);
    check_log(log, full_log);
    GW_CHECK_INT(state, H2_YES);
    GW_CHECK_INT(synced[0], 1);
    GW_CHECK_INT(synced[1], 1);
    gw_free(log);

    /* The server's first bytes arrive before the client preface: held, then settled. */
    static const pkt early[] = {
        {3, 1, SRV_SETTINGS, 0},
        {4, 0, PREFACE_HEX SETTINGS_EMPTY, 0},
        {5, 1, SETTINGS_ACK, 0},
    };
    conn_spec ce = {early, 3, 1, TCP_CLIENT_SYN};
    log = run_all(&ce, NULL, &state, NULL, NULL);
    check_log(log, "detect yes\n"
                   "frame d1 c0 off0 pkt3-3 ts3000 SETTINGS f00 s0 len6\n"
                   "preface d0 pkt4 ts4000\n"
                   "frame d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n"
                   "frame d1 c0 off15 pkt5-5 ts5000 SETTINGS f01 s0 len0\n");
    gw_free(log);

    /* A frame split over packets: first_pkt and last_pkt differ. */
    static const pkt split[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY "000000 04 01 00000000 00005b 01 04", 0},
        {5, 0, "00000001", 0},
        {6, 0, SEED12_BLOCK, 0},
        {7, 0, SEED12_DATA, 0},
    };
    conn_spec cp = {split, 4, 1, TCP_CLIENT_SYN};
    log = run_all(&cp, NULL, &state, NULL, NULL);
    GW_CHECK(strstr(log, "frame d0 c1 off42 pkt4-6 ts6000 HEADERS f04 s1 len91 block(s1 t1 es0 len91 "
                         "err0 unk0)" REQ_FIELDS "\n") != NULL);
    gw_free(log);
}

/* The capture begins mid-connection: no handshake, no preface. */
static void test_midstream(void)
{
    static const pkt mid[] = {
        {12, 0, SEED12, 0},
        {15, 1, SEED15, 0},
    };
    conn_spec cs = {mid, 2, 0, TCP_CLIENT_UNKNOWN};
    int state, synced[2];
    tcp_conn tc;
    char *log = run_all(&cs, NULL, &state, synced, &tc);
    check_log(log,
              "detect yes\n"
              "frame d0 c-1 off0 pkt12-12 ts12000 SETTINGS f01 s0 len0\n"
              "frame d0 c1 off9 pkt12-12 ts12000 HEADERS f04 s1 len91 block(s1 t1 es0 len91 err0 unk0)"
              REQ_FIELDS "\n"
              "frame d0 c1 off109 pkt12-12 ts12000 DATA f01 s1 len12\n"
              "frame d1 c0 off0 pkt15-15 ts15000 HEADERS f04 s1 len14 block(s1 t1 es0 len14 err0 unk0)"
              RESP_FIELDS "\n"
              "frame d1 c0 off23 pkt15-15 ts15000 DATA f00 s1 len18\n"
              "frame d1 c0 off50 pkt15-15 ts15000 HEADERS f05 s1 len24 block(s1 t1 es1 len24 err0 unk0)"
              TRAILER_FIELDS "\n");
    GW_CHECK_INT(state, H2_YES);
    GW_CHECK_INT(tc.client, 0);               /* settled by :method */
    GW_CHECK_INT(tc.client_how, TCP_CLIENT_UPPER);
    gw_free(log);

    /* Starting inside a frame: bytes before the first boundary are one skip. */
    static const pkt inside[] = {
        {12, 0, "0a05776f726c64" SEED12 PING_ACK, 0},
    };
    conn_spec ci = {inside, 1, 0, TCP_CLIENT_UNKNOWN};
    log = run_all(&ci, NULL, &state, NULL, NULL);
    GW_CHECK(starts_with(log, "detect yes\n"
                              "skip d0 off0 len7 \"not at a frame boundary\" pkt12\n"
                              "frame d0 c-1 off7 pkt12-12 ts12000 SETTINGS f01 s0 len0\n"));
    GW_CHECK_INT(state, H2_YES);
    gw_free(log);

    /* Only two frames seen mid-stream: not enough to decide. */
    static const pkt two[] = {{12, 0, SEED12_HEADERS SEED12_DATA, 0}};
    conn_spec c2 = {two, 1, 0, TCP_CLIENT_UNKNOWN};
    log = run_all(&c2, NULL, &state, NULL, NULL);
    check_log(log, "");
    GW_CHECK_INT(state, H2_DETECTING);
    gw_free(log);
    h2_opts o;
    h2_opts_default(&o);
    o.detect_run = 2;
    log = run_all(&c2, &o, &state, NULL, NULL);
    GW_CHECK(strstr(log, "HEADERS f04 s1 len91 block(s1 t1 es0 len91 err0 unk0)" REQ_FIELDS) != NULL);
    GW_CHECK_INT(state, H2_YES);
    gw_free(log);

    /* force: frames from the first byte, no detection needed. */
    o.detect_run = 3;
    o.force = 1;
    log = run_all(&c2, &o, &state, NULL, NULL);
    GW_CHECK(starts_with(log, "detect yes\nframe d0 c1 off0 pkt12-12 ts12000 HEADERS"));
    GW_CHECK(strstr(log, "frame d0 c1 off100 pkt12-12 ts12000 DATA f01 s1 len12\n") != NULL);
    gw_free(log);
    /* force still recognises the preface */
    static const pkt fp[] = {{4, 0, PREFACE_HEX SETTINGS_EMPTY, 0}};
    conn_spec cf = {fp, 1, 0, TCP_CLIENT_UNKNOWN};
    log = run_all(&cf, &o, &state, NULL, NULL);
    check_log(log, "detect yes\npreface d0 pkt4 ts4000\nframe d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n");
    gw_free(log);
}

#define ZERO7 "00000000000000"

/* A gap in the client direction in the middle of the seed's HEADERS frame. */
static void test_gap(void)
{
    static const pkt gapped[] = {
        {4, 0, PREFACE_HEX, 0},
        {6, 1, SRV_SETTINGS, 0},
        {8, 0, SETTINGS_EMPTY, 0},
        {10, 1, SETTINGS_ACK, 0},
        {12, 0, "000000 04 01 00000000 00005b 01 04 00000001 8386", 0}, /* off 33 */
        {13, 0, NULL, 40},                                            /* lost: off 53..93 */
        {14, 0, ZERO7 ZERO7 ZERO7 ZERO7 ZERO7 ZERO7 ZERO7 /* 49: the block ends at 142 */
                SEED12_DATA, 0},
        {15, 0, PING_ACK CALL3, 0},
        {16, 1, SEED15, 0},
    };
    conn_spec cs = {gapped, sizeof gapped / sizeof gapped[0], 1, TCP_CLIENT_SYN};
    int state, synced[2];
    char *log = run_all(&cs, NULL, &state, synced, NULL);
    check_log(log,
              "detect yes\n"
              "preface d0 pkt4 ts4000\n"
              "frame d1 c0 off0 pkt6-6 ts6000 SETTINGS f00 s0 len6\n"
              "frame d0 c1 off24 pkt8-8 ts8000 SETTINGS f00 s0 len0\n"
              "frame d1 c0 off15 pkt10-10 ts10000 SETTINGS f01 s0 len0\n"
              "frame d0 c1 off33 pkt12-12 ts12000 SETTINGS f01 s0 len0\n"
              "skip d0 off42 len11 \"frame cut by a gap\" pkt13\n"
              "skip d0 off53 len40 \"bytes lost in capture\" pkt13\n"
              "anomaly d0 s0 pkt13 \"HPACK out of sync after gap\"\n"
              "skip d0 off93 len49 \"not at a frame boundary\" pkt14\n"
              "frame d0 c1 off142 pkt14-14 ts14000 DATA f01 s1 len12\n"
              "frame d0 c1 off163 pkt15-15 ts15000 PING f01 s0 len8\n"
              "frame d0 c1 off180 pkt15-15 ts15000 HEADERS f04 s3 len3 block(s3 t1 es0 len3 err0 unk0)"
              "\n  :method: GET rep1 idx2\n  :scheme: http rep1 idx6\n  :path: / rep1 idx4\n"
              "frame d0 c1 off192 pkt15-15 ts15000 DATA f01 s3 len7\n"
              "frame d1 c0 off24 pkt16-16 ts16000 HEADERS f04 s1 len14 block(s1 t1 es0 len14 err0 unk0)"
              RESP_FIELDS "\n"
              "frame d1 c0 off47 pkt16-16 ts16000 DATA f00 s1 len18\n"
              "frame d1 c0 off74 pkt16-16 ts16000 HEADERS f05 s1 len24 block(s1 t1 es1 len24 err0 unk0)"
              TRAILER_FIELDS "\n");
    GW_CHECK_INT(synced[0], 0);
    GW_CHECK_INT(synced[1], 1);
    gw_free(log);

    /* A gap exactly between frames, then a second gap while resynchronising. */
    static const pkt g2[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY, 0},
        {5, 0, NULL, 9},
        {6, 0, "0a0b0c", 0},
        {7, 0, NULL, 2},
        {8, 0, SEED12, 0},
    };
    conn_spec c2 = {g2, 5, 1, TCP_CLIENT_SYN};
    log = run_all(&c2, NULL, &state, synced, NULL);
    check_log(log,
              "detect yes\n"
              "preface d0 pkt4 ts4000\n"
              "frame d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n"
              "skip d0 off33 len9 \"bytes lost in capture\" pkt5\n"
              "anomaly d0 s0 pkt5 \"HPACK out of sync after gap\"\n"
              "skip d0 off42 len3 \"not at a frame boundary\" pkt7\n"
              "skip d0 off45 len2 \"bytes lost in capture\" pkt7\n"
              "frame d0 c1 off47 pkt8-8 ts8000 SETTINGS f01 s0 len0\n"
              "frame d0 c1 off56 pkt8-8 ts8000 HEADERS f04 s1 len91 block(s1 t1 es0 len91 err0 unk0)"
              REQ_FIELDS "\n"
              "frame d0 c1 off156 pkt8-8 ts8000 DATA f01 s1 len12\n");
    gw_free(log);
}

/* The seed's request block cut into HEADERS + CONTINUATION frames. */
static void test_continuation(void)
{
    /* 91 bytes = 30 + 30 + 31 */
    static const char *const parts[3] = {
        "838645956272d141fc1eca245f15852a4b631b87eb1968a0ff418ba0e41d",
        "139d09b8d800d87f5f8b1d75d0620d263d4c4d65647a8a9acac8b4c7602b",
        "b8cae040027465864d833505b11f40899acac8b24d494f6a7f857df7c4d82d"};
    char hex[1024];
    snprintf(hex, sizeof hex,
             "00001e 01 01 00000001 %s 00001e 09 00 00000001 %s 00001f 09 04 00000001 %s", parts[0],
             parts[1], parts[2]);
    pkt joined[] = {{4, 0, PREFACE_HEX SETTINGS_EMPTY, 0}, {5, 0, hex, 0}, {6, 0, SEED12_DATA, 0}};
    conn_spec cs = {joined, 3, 1, TCP_CLIENT_SYN};
    int state;
    char *log = run_all(&cs, NULL, &state, NULL, NULL);
    check_log(log,
              "detect yes\n"
              "preface d0 pkt4 ts4000\n"
              "frame d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n"
              "frame d0 c1 off33 pkt5-5 ts5000 HEADERS f01 s1 len30\n"
              "frame d0 c1 off72 pkt5-5 ts5000 CONTINUATION f00 s1 len30\n"
              "frame d0 c1 off111 pkt5-5 ts5000 CONTINUATION f04 s1 len31 block(s1 t1 es1 len91 err0 unk0)"
              REQ_FIELDS "\n"
              "frame d0 c1 off151 pkt6-6 ts6000 DATA f01 s1 len12\n");
    gw_free(log);

    /* Too many CONTINUATION frames: the block is dropped, its record says why. */
    h2_opts o;
    h2_opts_default(&o);
    o.max_continuations = 1;
    log = run_all(&cs, &o, &state, NULL, NULL);
    GW_CHECK(strstr(log, "anomaly d0 s1 pkt5 \"too many CONTINUATION frames\"\n"
                         "frame d0 c1 off111 pkt5-5 ts5000 CONTINUATION f04 s1 len31 block(s1 t1 "
                         "es1 len91 err-3 unk0)\n") != NULL);
    GW_CHECK_INT(GW_ECAP, -3);
    gw_free(log);
    /* Block over max_header_block */
    h2_opts_default(&o);
    o.max_header_block = 60;
    log = run_all(&cs, &o, &state, NULL, NULL);
    GW_CHECK(strstr(log, "anomaly d0 s1 pkt5 \"header block larger than the limit\"\n") != NULL);
    GW_CHECK(strstr(log, "CONTINUATION f04 s1 len31 block(s1 t1 es1 len91 err-3 unk0)\n") != NULL);
    gw_free(log);

    /* Interrupted block, CONTINUATION on another stream, CONTINUATION without a block. */
    snprintf(hex, sizeof hex,
             "00001e 01 00 00000001 %s 000008 06 00 00000000 0000000000000000"
             "000001 09 04 00000003 82 000001 01 00 00000005 82 000001 09 04 00000007 82",
             parts[0]);
    pkt bad[] = {{4, 0, PREFACE_HEX SETTINGS_EMPTY, 0}, {5, 0, hex, 0}};
    conn_spec cb = {bad, 2, 1, TCP_CLIENT_SYN};
    log = run_all(&cb, NULL, &state, NULL, NULL);
    check_log(log,
              "detect yes\n"
              "preface d0 pkt4 ts4000\n"
              "frame d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n"
              "frame d0 c1 off33 pkt5-5 ts5000 HEADERS f00 s1 len30\n"
              "anomaly d0 s1 pkt5 \"header block interrupted by another frame (RFC 9113 6.10)\"\n"
              "frame d0 c1 off72 pkt5-5 ts5000 PING f00 s0 len8\n"
              "anomaly d0 s3 pkt5 \"CONTINUATION without a header block\"\n"
              "frame d0 c1 off89 pkt5-5 ts5000 CONTINUATION f04 s3 len1\n"
              "frame d0 c1 off99 pkt5-5 ts5000 HEADERS f00 s5 len1\n"
              "anomaly d0 s7 pkt5 \"CONTINUATION on another stream than its header block\"\n"
              "frame d0 c1 off109 pkt5-5 ts5000 CONTINUATION f04 s7 len1\n");
    gw_free(log);
}

/* A frame over max_frame is passed over; the stream stays in sync. */
static void test_oversized(void)
{
    static const pkt p[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY SETTINGS_ACK "00005b 01 04 00000001", 0},
        {5, 0, SEED12_BLOCK SEED12_DATA, 0},
    };
    conn_spec cs = {p, 2, 1, TCP_CLIENT_SYN};
    h2_opts o;
    h2_opts_default(&o);
    o.max_frame = 16;
    int state, synced[2];
    char *log = run_all(&cs, &o, &state, synced, NULL);
    check_log(log,
              "detect yes\n"
              "preface d0 pkt4 ts4000\n"
              "frame d0 c1 off24 pkt4-4 ts4000 SETTINGS f00 s0 len0\n"
              "frame d0 c1 off33 pkt4-4 ts4000 SETTINGS f01 s0 len0\n"
              "anomaly d0 s1 pkt4 \"frame larger than the frame size limit: skipped\"\n"
              "skip d0 off42 len100 \"frame larger than the frame size limit: skipped\" pkt5\n"
              "frame d0 c1 off142 pkt5-5 ts5000 DATA f01 s1 len12\n");
    GW_CHECK_INT(synced[0], 0);
    gw_free(log);
}

/* SETTINGS_HEADER_TABLE_SIZE from the server bounds the size updates the client may send. */
static void test_table_size(void)
{
    /* client block: size update to 8192 (3f e1 3f), then :method GET */
    static const pkt nos[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY, 0},
        {5, 0, "000004 01 05 00000001 3fe13f82", 0},
    };
    conn_spec cs = {nos, 2, 1, TCP_CLIENT_SYN};
    int state;
    char *log = run_all(&cs, NULL, &state, NULL, NULL);
    GW_CHECK(strstr(log, "block(s1 t1 es1 len4 err-11 unk0)") != NULL); /* GW_EPARSE */
    GW_CHECK_INT(GW_EPARSE, -11);
    gw_free(log);

    static const pkt raised[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY, 0},
        {5, 1, "000006 04 00 00000000 0001 00002000", 0},
        {6, 0, "000004 01 05 00000001 3fe13f82", 0}, /* not acknowledged yet: max(4096, 8192) */
    };
    conn_spec cr = {raised, 3, 1, TCP_CLIENT_SYN};
    log = run_all(&cr, NULL, &state, NULL, NULL);
    GW_CHECK(strstr(log, "block(s1 t1 es1 len4 err0 unk0)\n  :method: GET rep1 idx2\n") != NULL);
    gw_free(log);

    /* Lowered to 1024: 4096 still allowed until the client's ACK, refused after it. */
    static const pkt lowered[] = {
        {4, 0, PREFACE_HEX SETTINGS_EMPTY, 0},
        {5, 1, "000006 04 00 00000000 0001 00000400", 0},
        {6, 0, "000004 01 05 00000001 3fe11f82", 0},   /* 4096 */
        {7, 0, SETTINGS_ACK "000004 01 05 00000003 3fe11f82", 0},
        {8, 0, "000003 01 05 00000005 3fe107", 0},      /* 1024 is fine */
    };
    conn_spec cl = {lowered, 5, 1, TCP_CLIENT_SYN};
    log = run_all(&cl, NULL, &state, NULL, NULL);
    GW_CHECK(strstr(log, "s1 len4 block(s1 t1 es1 len4 err0 unk0)") != NULL);
    GW_CHECK(strstr(log, "s3 len4 block(s3 t1 es1 len4 err-11 unk0)") != NULL);
    GW_CHECK(strstr(log, "s5 len3 block(s5 t1 es1 len3 err0 unk0)") != NULL);
    gw_free(log);
}

/* Not HTTP/2: no frames, and H2_NO. */
static void test_not_h2(void)
{
    static const pkt http1[] = {
        {4, 0, "474554202f20485454502f312e310d0a486f73743a20610d0a0d0a", 0}, /* GET / HTTP/1.1 */
        {6, 1, "485454502f312e3120323030204f4b0d0a0d0a", 0},
    };
    conn_spec cs = {http1, 2, 1, TCP_CLIENT_SYN};
    int state;
    char *log = run_all(&cs, NULL, &state, NULL, NULL);
    check_log(log, "detect no\n");
    GW_CHECK_INT(state, H2_NO);
    gw_free(log);

    /* The same mid-stream: undecided until detect_max positions are rejected. */
    conn_spec cm = {http1, 2, 0, TCP_CLIENT_UNKNOWN};
    log = run_all(&cm, NULL, &state, NULL, NULL);
    check_log(log, "");
    GW_CHECK_INT(state, H2_DETECTING);
    gw_free(log);

    /* Random bytes mid-stream. */
    static char rnd[2 * 3000 + 1];
    srand(99);
    for (int i = 0; i < 3000; i++)
        snprintf(rnd + 2 * i, 3, "%02x", rand() & 0xff);
    pkt rp[] = {{1, 0, rnd, 0}, {2, 1, rnd, 0}};
    conn_spec cr = {rp, 2, 0, TCP_CLIENT_UNKNOWN};
    h2_opts o;
    h2_opts_default(&o);
    o.detect_max = 1024;
    o.detect_budget = 1024;
    log = run_all(&cr, &o, &state, NULL, NULL);
    check_log(log, "detect no\n");
    GW_CHECK_INT(state, H2_NO);
    gw_free(log);

    /* Random bytes, default limits, many seeds: never a frame. */
    for (unsigned s = 0; s < 20; s++) {
        srand(1000 + s);
        for (int i = 0; i < 3000; i++)
            snprintf(rnd + 2 * i, 3, "%02x", rand() & 0xff);
        char *r = run(&cr, NULL, RANDOM, s, &state, NULL, NULL);
        GW_CHECK(strstr(r, "frame") == NULL);
        gw_free(r);
    }

    /* Handshake seen, first bytes plausible but the chain breaks: not HTTP/2. */
    static const pkt broken[] = {{4, 1, "000000 04 00 00000000 ffffffffffffffffffffffff", 0}};
    conn_spec cb = {broken, 1, 1, TCP_CLIENT_SYN};
    log = run_all(&cb, NULL, &state, NULL, NULL);
    check_log(log, "detect no\n");
    gw_free(log);
}

/* ---- the fast path for whole common frames against the general one ----------------------- */

/* h2_conn builds the record of a whole DATA, HEADERS (whole block), WINDOW_UPDATE or PING itself
 * and leaves every other frame, and every frame in pieces, to the general path. Fed byte at a
 * time, every frame takes the general path; fed whole, most take the fast one; at random split
 * points, a mix. run_all checks the logs are identical, and g_full logs every member. */

static unsigned rnd(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 16) & 0x7fff;
}

static void frame_hex(gw_buf *b, uint32_t len, unsigned type, unsigned flags, uint32_t sid,
                      const char *payload_hex)
{
    gw_buf_printf(b, "%06x%02x%02x%08x%s", len, type, flags, sid, payload_hex);
}

static void rand_hex(char *out, unsigned *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", rnd(s) & 0xff);
    out[2 * n] = 0;
}

/* One frame, mostly of the kinds the fast path takes, some it must refuse. */
static void gen_frame(gw_buf *b, unsigned *s)
{
    static const char *const blocks[] = {
        "828684",           /* GET http / (static) */
        "8286844001610162", /* ... and a: b, inserted into the table */
        "be",               /* the entry inserted above, or one from before the capture */
        "88",               /* :status 200 */
        "885f8b1d75d0620d263d4c4d6564",
        "",                 /* an empty block */
        "ff",               /* truncated integer: an HPACK error */
    };
    char pay[128];
    uint32_t sid = 1 + 2 * (rnd(s) % 3);
    unsigned k = rnd(s) % 100, len;
    if (k < 30) { /* DATA, mostly plain */
        static const unsigned fl[] = {0, 1, 0, 1, 8, 9, 0x20};
        unsigned flags = fl[rnd(s) % 7];
        len = rnd(s) % 24;
        rand_hex(pay, s, len);
        if (flags & 8 && len) /* pad length: often fitting, sometimes not */
            sprintf(pay, "%02x", rnd(s) % (len + 2));
        frame_hex(b, len, 0, flags, rnd(s) % 20 ? sid : 0, pay);
    } else if (k < 60) { /* HEADERS, mostly a whole block */
        static const unsigned fl[] = {4, 5, 4, 5, 0, 1, 0x24, 0x0c, 0x2c};
        unsigned flags = fl[rnd(s) % 9];
        const char *blk = blocks[rnd(s) % 7];
        char body[64] = "";
        if (flags & 8)
            strcat(body, "00");
        if (flags & 0x20)
            strcat(body, rnd(s) % 2 ? "0000000310" : "8000000110");
        strcat(body, blk);
        frame_hex(b, (uint32_t)strlen(body) / 2, 1, flags, rnd(s) % 20 ? sid : 0, body);
    } else if (k < 66) { /* CONTINUATION */
        frame_hex(b, 1, 9, rnd(s) % 3 ? 4 : 0, sid, "84");
    } else if (k < 78) { /* WINDOW_UPDATE: increment 0, or a wrong length, now and then */
        unsigned inc = rnd(s) % 8 ? 1 + rnd(s) : 0;
        snprintf(pay, sizeof pay, "%08x", inc | (rnd(s) % 8 ? 0 : 0x80000000u));
        if (rnd(s) % 10 == 0)
            strcat(pay, "00");
        frame_hex(b, (uint32_t)strlen(pay) / 2, 8, 0, rnd(s) % 2 ? sid : 0, pay);
    } else if (k < 88) { /* PING: on a stream, or of 7 bytes, now and then */
        len = rnd(s) % 10 ? 8 : 7;
        rand_hex(pay, s, len);
        frame_hex(b, len, 6, rnd(s) % 2, rnd(s) % 10 ? 0 : 1, pay);
    } else if (k < 91) {
        frame_hex(b, 0, 4, 1, 0, ""); /* SETTINGS ACK */
    } else if (k < 93) {
        frame_hex(b, 6, 4, 0, 0, "000100001000"); /* SETTINGS_HEADER_TABLE_SIZE 4096 */
    } else if (k < 95) {
        frame_hex(b, 4, 3, 0, sid, "00000008"); /* RST_STREAM CANCEL */
    } else if (k < 96) {
        frame_hex(b, 5, 2, 0, sid, "0000000010"); /* PRIORITY */
    } else if (k < 97) {
        frame_hex(b, 8, 7, 0, 0, "0000000300000000"); /* GOAWAY */
    } else if (k < 98) {
        frame_hex(b, 2, 0x0a, 0, 0, "abcd"); /* unknown type */
    } else {
        frame_hex(b, 3, 0, 0, sid | 0x80000000u, "010203"); /* DATA with the R bit */
    }
}

static void test_fast_path(void)
{
    g_full = 1;
    for (unsigned seed = 1; seed <= 120; seed++) {
        unsigned s = seed;
        int mid = seed % 3 == 0; /* seen from the middle: client from the headers */
        pkt pk[24];
        char *hex[24];
        size_t np = 0;
        if (!mid) {
            gw_buf b;
            gw_buf_init(&b, 0);
            gw_buf_printf(&b, "%s", PREFACE_HEX SETTINGS_EMPTY);
            gw_buf_putc(&b, 0);
            hex[np] = (char *)b.data;
            pk[np] = (pkt){np + 1, 0, hex[np], 0};
            np++;
        }
        while (np < 24) {
            gw_buf b;
            gw_buf_init(&b, 0);
            for (unsigned nf = 1 + rnd(&s) % 4; nf > 0; nf--)
                gen_frame(&b, &s);
            gw_buf_putc(&b, 0);
            hex[np] = (char *)b.data;
            pk[np] = (pkt){np + 1, (int)(rnd(&s) % 2), hex[np], 0};
            np++;
        }
        conn_spec cs = {pk, np, !mid, mid ? (seed % 2 ? TCP_CLIENT_PORT : TCP_CLIENT_UNKNOWN)
                                          : TCP_CLIENT_SYN};
        h2_opts o;
        h2_opts_default(&o);
        if (seed % 4 == 1)
            o.max_frame = 12; /* some frames too large: skipped, the fast path resumes after */
        if (mid)
            o.detect_run = 1 + seed % 2;
        char *log = run_all(&cs, &o, NULL, NULL, NULL);
        GW_CHECK(strstr(log, "STALE") == NULL);
        gw_free(log);
        for (size_t i = 0; i < np; i++)
            gw_free(hex[i]);
    }
    g_full = 0;
}

/* Every allocation failing in turn: no crash, no leak. */
static void test_failmalloc(void)
{
    conn_spec cs = {full, sizeof full / sizeof full[0], 1, TCP_CLIENT_SYN};
    for (long n = 0; n < 40; n++) {
        tcp_conn tc;
        memset(&tc, 0, sizeof tc);
        tc.syn[0] = tc.syn[1] = 1;
        tc.client_how = TCP_CLIENT_SYN;
        h2_callbacks cb = {0};
        gw_mem_fail_after(n);
        h2_conn *h = h2_conn_new(NULL, &cb, &tc);
        uint64_t off[2] = {0, 0};
        for (size_t i = 0; h && i < cs.npkts; i++) {
            uint8_t b[256];
            size_t len = gw_test_unhex(cs.pkts[i].hex, b, sizeof b);
            for (size_t j = 0; j < len; j += 5) /* small pieces: frames go through buffers */
                h2_conn_data(h, cs.pkts[i].dir, off[cs.pkts[i].dir] + j, b + j,
                             len - j < 5 ? len - j : 5, cs.pkts[i].no, 0);
            off[cs.pkts[i].dir] += len;
        }
        h2_conn_del(h);
        gw_mem_fail_after(-1);
    }
    GW_CHECK(1);
}

static void test_misc(void)
{
    h2_opts o;
    h2_opts_default(&o);
    GW_CHECK_INT(o.max_frame, 16777215);
    GW_CHECK_INT(o.max_header_block, 256 * 1024);
    GW_CHECK_INT(o.max_continuations, 64);
    GW_CHECK_INT(o.detect_max, 64 * 1024);
    GW_CHECK_INT(o.detect_run, 3);
    GW_CHECK_INT(o.hpack.max_table_size, 4096);
    h2_conn *h = h2_conn_new(&o, NULL, NULL);
    GW_CHECK(h != NULL);
    GW_CHECK_INT(h2_conn_state(h), H2_DETECTING);
    GW_CHECK_INT(h2_conn_hpack_synced(h, 0), 0);
    GW_CHECK_INT(h2_conn_hpack_synced(h, 2), 0);
    /* no callbacks and no tcp_conn: still safe */
    uint8_t b[256];
    size_t n = gw_test_unhex(PREFACE_HEX SETTINGS_EMPTY SEED12, b, sizeof b);
    h2_conn_data(h, 0, 0, b, n, 1, 0);
    h2_conn_data(h, 5, 0, b, n, 1, 0);
    h2_conn_gap(h, 0, n, 10, 2, 0);
    GW_CHECK_INT(h2_conn_state(h), H2_YES);
    h2_conn_del(h);
    h2_conn_del(NULL);
}

int main(void)
{
    test_full();
    test_midstream();
    test_gap();
    test_continuation();
    test_oversized();
    test_table_size();
    test_not_h2();
    test_fast_path();
    test_failmalloc();
    test_misc();
    GW_TEST_END();
}
