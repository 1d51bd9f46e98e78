/* The whole read pipeline (capture decode -> tcp -> h2 -> hpack -> grpc -> views) over packets
 * carved from the input: [linktype selector][len16][bytes]... Every view renders every record;
 * the call log and --stats also read with two dissecting threads (split reading). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dissect/dissect.h"
#include "view/view.h"

static const int linktypes[] = {1, 12, 101, 113, 276, 0, 108};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *devnull;
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    if (size < 1)
        return 0;
    int linktype = linktypes[data[0] % (sizeof linktypes / sizeof linktypes[0])];
    int kind = (data[0] >> 4) % 5;
    view_opts vo;
    view_opts_default(&vo);
    vo.out = devnull;
    vo.json = (data[0] >> 3) & 1 ? VIEW_JSON_MESSAGES : VIEW_JSON_OFF;
    dissect_opts dopt;
    dissect_opts_default(&dopt);
    /* Small caps so that the limits are exercised too. */
    dopt.tcp.ooo_max_bytes = 4096;
    dopt.tcp.ooo_max_segments = 8;
    dopt.h2.max_frame = 1 << 16;
    dopt.grpc.max_message = 1 << 16;
    if (data[0] & 0x80) {
        dopt.h2_ports[0] = 50051;
        dopt.n_h2_ports = 1;
    }
    dissect_sink sink;
    view *v = NULL;
    dissect *d = NULL;
    if ((data[0] & 0x04) && (kind == VIEW_CALLS || kind == VIEW_STATS)) {
        dissect_sink sinks[2];
        if (view_new_pair(&v, kind, &vo, sinks) ||
            dissect_new_split(&d, &dopt, sinks, view_pair_merge, v))
            goto out;
    } else if (view_new(&v, kind, &vo, &sink) || dissect_new(&d, &dopt, &sink)) {
        goto out;
    }
    size_t off = 1;
    uint64_t no = 0;
    while (off + 2 <= size) {
        size_t len = (size_t)data[off] << 8 | data[off + 1];
        off += 2;
        if (len > size - off)
            len = size - off;
        no++;
        cap_packet pkt = {no, (int64_t)no * 1000000, (uint32_t)len, (uint32_t)len + (no % 3 == 0),
                          linktype, UINT64_MAX, data + off};
        dissect_packet(d, &pkt);
        off += len;
    }
    dissect_finish(d);
    view_finish(v);
out:
    dissect_del(d);
    view_del(v);
    return 0;
}
