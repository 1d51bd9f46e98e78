/* fuzz_h2: the frame parser on the raw input, then the input as a two-direction TCP stream with
 * gaps through h2_conn (detection, frames, CONTINUATION, HPACK). Input layout:
 *   byte 0   options: bit0 force, bit1 SYN seen, bit2 small max_frame, bit3 detect_run 1,
 *            bit4 small detect_max, bit5 small header block limit, bits6-7 initial client_how
 *   then records: control byte c, length byte l
 *            c&1 direction; (c>>1)&7 == 0: a gap of l+1 bytes; else: the next l+1 input bytes
 *            are delivered (with a new packet number when c&0x10).
 * The stream is run twice, as given and one byte per call: the callbacks must be identical (a
 * hash of everything they report), since h2_conn promises not to depend on segmentation. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "h2/h2_conn.h"
#include "h2/h2_frame.h"

static size_t sink;
static uint64_t hash;

static void mix(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        hash = (hash ^ b[i]) * 1099511628211ull;
}
static void mix64(uint64_t v) { mix(&v, sizeof v); }
static void mixs(const char *s) { mix(s ? s : "-", s ? strlen(s) + 1 : 1); }

static void on_frame(void *u, h2_conn *h, const h2_frame_rec *r)
{
    mix64(1);
    mix64((uint64_t)r->dir << 32 | (uint32_t)(r->from_client + 1));
    mix64(r->off);
    mix64(r->first_pkt);
    mix64(r->last_pkt);
    mix64((uint64_t)r->ts_ns);
    mix64((uint64_t)r->f.length << 32 | (uint64_t)r->f.type << 8 | r->f.flags);
    mix64(r->f.stream_id);
    mixs(r->f.anomaly);
    mix64((uint64_t)r->has_block << 40 | (uint64_t)r->block_stream << 8 | r->block_type);
    mix64(r->block_len);
    mix64(r->nfields);
    mix64((uint64_t)(uint32_t)r->hpack_err << 8 | (uint64_t)r->hpack_unknown);
    mixs(r->hpack_why);
    /* every other member too, by content where it points into the input: runs of whole common
     * frames take h2_conn's fast path, the same bytes one per call the general one */
    mix64((uint64_t)r->f.reserved << 40 | (uint64_t)r->f.pad_len << 32 | r->f.data_len);
    mix64(r->f.data ? 1 : 0);
    if (r->f.data)
        mix(r->f.data, r->f.data_len);
    if (r->f.payload)
        mix(r->f.payload, r->f.length);
    mix64((uint64_t)r->f.has_priority << 48 | (uint64_t)r->f.exclusive << 40 |
          (uint64_t)r->f.weight << 32 | r->f.dep_stream);
    mix64((uint64_t)r->f.error_code << 32 | r->f.promised_id);
    mix64((uint64_t)r->f.last_stream_id << 32 | r->f.window_increment);
    mix64((uint64_t)r->f.nsettings << 8 | r->block_end_stream);
    mix64(r->field_bytes);
    for (size_t i = 0; i < r->nfields; i++) {
        mix(r->fields[i].name, r->fields[i].name_len);
        mix64(r->fields[i].name_len);
        mix(r->fields[i].value, r->fields[i].value_len);
        mix64(r->fields[i].value_len);
        mix64((uint64_t)r->fields[i].rep << 32 | r->fields[i].index);
    }
    /* touch everything the record lends */
    sink += r->f.length + r->f.data_len + r->f.type;
    if (r->f.payload && r->f.length)
        sink += r->f.payload[r->f.length - 1];
    if (r->f.data && r->f.data_len)
        sink += r->f.data[0] + r->f.data[r->f.data_len - 1];
    for (uint32_t i = 0; i < r->f.nsettings; i++) {
        uint16_t id;
        uint32_t v;
        h2_frame_setting(&r->f, i, &id, &v);
        sink += id + v + strlen(h2_settings_name(id));
    }
    sink += strlen(h2_frame_type_name(r->f.type)) + strlen(h2_error_name(r->f.error_code));
    if (r->f.anomaly)
        sink += strlen(r->f.anomaly);
    for (size_t i = 0; i < r->nfields; i++) {
        const hpack_field *f = &r->fields[i];
        if (f->name_len)
            sink += (unsigned char)f->name[f->name_len - 1];
        if (f->value_len)
            sink += (unsigned char)f->value[f->value_len - 1];
    }
    if (r->hpack_why)
        sink += strlen(r->hpack_why);
}

static void on_skip(void *u, h2_conn *h, int dir, uint64_t off, uint64_t len, const char *why,
                    uint64_t pkt, int64_t ts)
{
    sink += strlen(why) + (size_t)len;
    mix64(2);
    mix64((uint64_t)dir);
    mix64(off);
    mix64(len);
    mixs(why);
    mix64(pkt);
}

static void on_anomaly(void *u, h2_conn *h, int dir, uint32_t stream, uint64_t pkt, const char *what)
{
    sink += strlen(what);
    mix64(3);
    mix64((uint64_t)dir << 32 | stream);
    mix64(pkt);
    mixs(what);
}

static void on_preface(void *u, h2_conn *h, int dir, uint64_t pkt, int64_t ts)
{
    mix64(4);
    mix64((uint64_t)dir);
    mix64(pkt);
}

static void on_detect(void *u, h2_conn *h, int state)
{
    mix64(5);
    mix64((uint64_t)state);
}

/* Every frame the raw input holds, walked as a stream. */
static void frames(const uint8_t *p, size_t n)
{
    for (size_t pos = 0; pos < n;) {
        h2_frame f;
        if (h2_frame_hdr_parse(p + pos, n - pos, &f) < 0)
            break;
        (void)h2_frame_plausible(p + pos, n - pos, 16384, (int)(pos % 3) - 1);
        if (n - pos - H2_FRAME_HDR_LEN < f.length)
            break;
        h2_frame_payload_parse(&f, p + pos + H2_FRAME_HDR_LEN);
        if (f.data && f.data_len)
            sink += f.data[f.data_len - 1];
        pos += H2_FRAME_HDR_LEN + f.length;
    }
}

/* Feed the records; bytewise: one byte per h2_conn_data call. Returns the callback hash. */
static uint64_t run(const uint8_t *data, size_t size, int bytewise)
{
    uint8_t o0 = data[0];
    h2_opts o;
    h2_opts_default(&o);
    o.force = o0 & 1;
    if (o0 & 4)
        o.max_frame = 64;
    if (o0 & 8)
        o.detect_run = 1;
    if (o0 & 16)
        o.detect_max = 200;
    if (o0 & 32) {
        o.max_header_block = 40;
        o.max_continuations = 2;
    }
    tcp_conn tc;
    memset(&tc, 0, sizeof tc);
    tc.syn[0] = tc.syn[1] = (o0 & 2) ? 1 : 0;
    tc.client_how = o0 >> 6;
    tc.client = 0;
    h2_callbacks cb = {NULL, on_preface, on_frame, on_skip, on_anomaly, on_detect};
    hash = 1469598103934665603ull;
    h2_conn *h = h2_conn_new(&o, &cb, &tc);
    if (!h)
        return 0;
    uint64_t off[2] = {0, 0}, pkt = 1;
    size_t pos = 1;
    while (pos + 2 <= size) {
        uint8_t c = data[pos], l = data[pos + 1];
        pos += 2;
        int dir = c & 1;
        size_t len = (size_t)l + 1;
        if (c & 0x10)
            pkt++;
        if (((c >> 1) & 7) == 0) {
            h2_conn_gap(h, dir, off[dir], len, pkt, (int64_t)pkt);
            off[dir] += len;
            continue;
        }
        if (len > size - pos)
            len = size - pos;
        if (len == 0)
            break;
        if (bytewise) {
            for (size_t i = 0; i < len; i++)
                h2_conn_data(h, dir, off[dir] + i, data + pos + i, 1, pkt, (int64_t)pkt);
        } else {
            h2_conn_data(h, dir, off[dir], data + pos, len, pkt, (int64_t)pkt);
        }
        off[dir] += len;
        pos += len;
    }
    mix64((uint64_t)h2_conn_state(h));
    mix64((uint64_t)h2_conn_hpack_synced(h, 0) << 1 | (uint64_t)h2_conn_hpack_synced(h, 1));
    h2_conn_del(h);
    return hash;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frames(data, size);
    if (size < 1)
        return 0;
    uint64_t a = run(data, size, 0);
    uint64_t b = run(data, size, 1);
    if (a != b)
        __builtin_trap(); /* the records depend on how the bytes were segmented */
    return 0;
}
