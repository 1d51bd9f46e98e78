/* grpcwire read / live: open a capture, wire dissect to the chosen view, run, report. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture/cap_scan.h"
#include "cli.h"
#include "common/gw_err.h"
#include "dissect/dissect.h"
#include "h2/hpack.h"
#include "pb/pb_schema.h"
#include "view/view.h"

static const char read_help[] =
    "usage: grpcwire read [options] FILE [FILTER...]\n"
    "       grpcwire live [options] [FILTER...]\n"
    "\n"
    "Dissect gRPC from a pcap/pcapng file (read; FILE may be '-' for standard input, or given\n"
    "with -r) or from a live interface (live). FILTER is a BPF expression as tcpdump takes it.\n"
    "\n"
    "Views (default: the call log, one line per call as it completes):\n"
    "  --frames              one line per packet with its HTTP/2 frames (like tshark)\n"
    "  -V, --tree            every layer of every packet, HPACK fields, gRPC messages\n"
    "  --conversations       TCP connections: endpoints, packets and bytes each way, gaps\n"
    "  --stats               per method: calls, status mix, latency percentiles, volume\n"
    "  --json[=messages]     NDJSON records (see docs/json.md); =messages adds one object\n"
    "                        per message as it completes\n"
    "  --explain             with any text view: plain-language lines on each HTTP/2 frame,\n"
    "                        HPACK field and call status, for learning the protocol\n"
    "\n"
    "Selection:\n"
    "  -c COUNT              stop after COUNT records (packets, or calls in the call log)\n"
    "  --packets A[-B]       only packets A to B (1-based, as in the file)\n"
    "  --conn N              only TCP connection N (the index --conversations shows)\n"
    "  --stream N            only HTTP/2 stream N\n"
    "\n"
    "Decoding:\n"
    "  --h2-port PORT        treat connections on PORT as HTTP/2 without detection\n"
    "                        (repeatable; detection works on any port without it)\n"
    "\n"
    "Schemas (message field names; helloworld, google.rpc.Status and the well-known types are\n"
    "built in; reflection calls in the capture are learned from):\n"
    "  --proto FILE          a .proto file (repeatable); imports searched in -I dirs\n"
    "  -I, --proto-path DIR  where imports are found (repeatable)\n"
    "  --protoset FILE       a FileDescriptorSet from protoc -o / buf build (repeatable)\n"
    "  --no-learn            ignore descriptors from reflection calls in the capture\n"
    "  --guess-methods       for streams whose headers were not captured, show the method\n"
    "                        whose request type fits the bytes best, marked as a guess\n"
    "\n"
    "Capture (live):\n"
    "  -i IFACE              interface (default lo; 'any' for all)\n"
    "  -w FILE               also write the raw packets to FILE (pcap)\n"
    "  -s SNAPLEN            bytes kept per packet (default 262144)\n"
    "\n"
    "Output:\n"
    "  --color=WHEN          auto (default: on a terminal, unless NO_COLOR is set), always, never\n"
    "  -q, --quiet           no progress or summary on standard error\n"
    "  --threads N           1 or 2 (default 2 on two or more CPUs): files of many small\n"
    "                        calls are dissected by two threads for the call log, --json\n"
    "                        and --stats (connections dealt between them); otherwise\n"
    "                        --json message bodies render on the second. Same output.\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 when the input was read to its end, 1 when it could not be read or was\n"
    "damaged (everything decodable before the damage is printed first), 2 on bad usage.\n";

static volatile sig_atomic_t stop_flag;
static cap_source *live_src;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
    if (live_src)
        cap_source_break(live_src);
}

enum {
    OPT_FRAMES = 256,
    OPT_CONV,
    OPT_STATS,
    OPT_JSON,
    OPT_PACKETS,
    OPT_CONN,
    OPT_STREAM,
    OPT_H2PORT,
    OPT_COLOR,
    OPT_EXPLAIN,
    OPT_PROTO,
    OPT_PROTOSET,
    OPT_NO_LEARN,
    OPT_GUESS,
    OPT_THREADS,
};

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

static int parse_range(const char *s, uint64_t *a, uint64_t *b)
{
    char buf[64];
    const char *dash = strchr(s, '-');
    if (!dash)
        return parse_u64(s, a) || (*b = *a, 0);
    if ((size_t)(dash - s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(dash - s));
    buf[dash - s] = 0;
    if (parse_u64(buf, a))
        return -1;
    if (!dash[1]) {
        *b = 0;
        return 0;
    }
    return parse_u64(dash + 1, b) || (*b && *b < *a) ? -1 : 0;
}

#define SCH_MAX 256

/* Schemas: the user's files first (their definitions win), then the built-ins. NULL with a
 * message on stderr when a file cannot be loaded. */
static pb_schemas *load_schemas(const int *kinds, const char *const *args, int n, int guess)
{
    const char *dirs[SCH_MAX];
    size_t nd = 0;
    char err[1024];
    pb_schemas *s;
    for (int i = 0; i < n; i++)
        if (kinds[i] == 'I')
            dirs[nd++] = args[i];
    if (pb_schemas_new(&s, NULL)) {
        cli_err("out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int e = 0;
        if (kinds[i] == OPT_PROTO)
            e = pb_schemas_load_proto(s, args[i], dirs, nd, err, sizeof err);
        else if (kinds[i] == OPT_PROTOSET)
            e = pb_schemas_load_protoset_file(s, args[i], err, sizeof err);
        if (e) {
            cli_err("%s", err);
            pb_schemas_del(s);
            return NULL;
        }
    }
    if (pb_schemas_add_builtin(s)) {
        cli_err("loading the built-in schemas failed");
        pb_schemas_del(s);
        return NULL;
    }
    pb_schemas_set_guess(s, guess);
    return s;
}

/* Reflection responses in the capture teach the schemas (see pb_schemas_learn_reflection). The
 * view's own on_message runs after, with the view as u. */
static pb_schemas *learn_schemas;
static void (*learn_next)(void *u, grpc_call *c, const grpc_msg *m);

static void learn_message(void *u, grpc_call *c, const grpc_msg *m)
{
    if (!m->from_client && m->data && m->decoded && !m->truncated &&
        pb_is_reflection_method(c->method)) {
        if (learn_next)
            view_sync(u); /* the view's writer thread may be reading the schemas */
        pb_schemas_learn_reflection(learn_schemas, m->data, m->data_len);
    }
    if (learn_next)
        learn_next(u, c, m);
}

/* Does the file mention the reflection service at all? A header string starts on a byte
 * boundary, so the Huffman code of "/grpc.reflection.v1" begins with the same whole bytes
 * wherever it is sent. The file's raw bytes are scanned, not its packets (the filter is not
 * applied, record headers are included): a false yes only costs the first pass, which runs only
 * when this finds something. */
typedef struct refl_needles {
    uint8_t huff[32];
    cap_needle nd[2];
} refl_needles;

static void reflection_needles(refl_needles *r)
{
    static const char path[] = "/grpc.reflection.v1";
    size_t hl = hpack_huff_encode((const uint8_t *)path, sizeof path - 1, r->huff);
    size_t whole = hl > 1 ? hl - 1 : hl; /* the last byte may hold bits of what follows */
    r->nd[0] = (cap_needle){(const uint8_t *)path, sizeof path - 1};
    r->nd[1] = (cap_needle){r->huff, whole};
}

static int mentions_reflection(const char *file)
{
    refl_needles r;
    reflection_needles(&r);
    char msg[512];
    return cap_scan_file(file, r.nd, 2, msg, sizeof msg) == 1; /* unreadable: the main pass says so */
}

/* Files: a first pass that only collects reflection responses, so that calls before the
 * reflection call decode with names too. Returns 0, or -1 when the file could not be read. */
static int learn_prepass(const char *file, const char *filter, const dissect_opts *dopts)
{
    char msg[512];
    cap_source *src = NULL;
    dissect *d = NULL;
    dissect_sink sink;
    cap_packet pkt;
    int rc = -1;
    memset(&sink, 0, sizeof sink);
    sink.on_message = learn_message;
    learn_next = NULL;
    if (cap_source_open_file(&src, file, msg, sizeof msg))
        return -1;
    if (filter[0] && cap_source_set_filter(src, filter, msg, sizeof msg))
        goto out;
    dissect_opts all = *dopts;
    all.grpc.keep = GRPC_KEEP_ALL; /* the descriptors may be in any response, not the first */
    if (dissect_new(&d, &all, &sink))
        goto out;
    while (!stop_flag && cap_source_next(src, &pkt, msg, sizeof msg) > 0)
        if (dissect_packet(d, &pkt) == GW_ENOMEM)
            goto out;
    dissect_finish(d);
    rc = 0;
out:
    dissect_del(d);
    cap_source_del(src);
    return rc;
}

/* Does a second dissecting thread pay on this file? It does when the work is per call (many
 * small calls: the layers above tcp dominate, and they split by connection); on large messages
 * the work is per byte, and handing the bytes to the other thread costs what it saves. The first
 * SAMPLE_BYTES of packets are dissected to count calls: SPLIT_CALLS_PER_MB or more splits. */
#define SAMPLE_BYTES (4u << 20)
#define SPLIT_CALLS_PER_MB 500
static int split_pays(const char *file, const char *filter, const dissect_opts *dopts)
{
    char msg[512];
    cap_source *src = NULL;
    dissect *d = NULL;
    cap_packet pkt;
    int pays = 0;
    if (cap_source_open_file(&src, file, msg, sizeof msg))
        return 0;
    if (filter[0] && cap_source_set_filter(src, filter, msg, sizeof msg))
        goto out;
    dissect_opts o = *dopts;
    o.grpc.keep = GRPC_KEEP_NONE;
    if (dissect_new(&d, &o, NULL))
        goto out;
    uint64_t bytes = 0;
    while (bytes < SAMPLE_BYTES && cap_source_next(src, &pkt, msg, sizeof msg) > 0) {
        bytes += pkt.caplen;
        if (dissect_packet(d, &pkt) == GW_ENOMEM)
            goto out;
    }
    dissect_stats st = dissect_get_stats(d);
    pays = bytes && st.calls * (1u << 20) >= (uint64_t)SPLIT_CALLS_PER_MB * bytes;
out:
    dissect_del(d);
    cap_source_del(src);
    return pays;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_read_main(int argc, char **argv, int live)
{
    static const struct option longopts[] = {
        {"frames", no_argument, NULL, OPT_FRAMES},
        {"tree", no_argument, NULL, 'V'},
        {"conversations", no_argument, NULL, OPT_CONV},
        {"stats", no_argument, NULL, OPT_STATS},
        {"json", optional_argument, NULL, OPT_JSON},
        {"packets", required_argument, NULL, OPT_PACKETS},
        {"conn", required_argument, NULL, OPT_CONN},
        {"stream", required_argument, NULL, OPT_STREAM},
        {"h2-port", required_argument, NULL, OPT_H2PORT},
        {"color", required_argument, NULL, OPT_COLOR},
        {"explain", no_argument, NULL, OPT_EXPLAIN},
        {"proto", required_argument, NULL, OPT_PROTO},
        {"proto-path", required_argument, NULL, 'I'},
        {"protoset", required_argument, NULL, OPT_PROTOSET},
        {"no-learn", no_argument, NULL, OPT_NO_LEARN},
        {"guess-methods", no_argument, NULL, OPT_GUESS},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"colour", required_argument, NULL, OPT_COLOR},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int kind = VIEW_CALLS, quiet = 0, rc = CLI_EXIT_OK, opt;
    const char *file = NULL, *iface = "lo", *wfile = NULL, *color = "auto";
    int snaplen = 262144;
    view_opts vo;
    int sch_kind[SCH_MAX], sch_n = 0, no_learn = 0, guess = 0;
    const char *sch_arg[SCH_MAX];
    pb_schemas *schemas = NULL;
    dissect_opts dopts;
    view_opts_default(&vo);
    vo.threads = sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 2 : 1;
    dissect_opts_default(&dopts);

    optind = 1;
    while ((opt = getopt_long(argc, argv, "r:Vc:i:w:s:qhI:", longopts, NULL)) != -1) {
        uint64_t n, m;
        switch (opt) {
        case 'r': file = optarg; break;
        case 'V': kind = VIEW_TREE; break;
        case OPT_FRAMES: kind = VIEW_FRAMES; break;
        case OPT_CONV: kind = VIEW_CONV; break;
        case OPT_STATS: kind = VIEW_STATS; break;
        case OPT_EXPLAIN: vo.explain = 1; break;
        case OPT_PROTO:
        case OPT_PROTOSET:
        case 'I':
            if (sch_n >= SCH_MAX) {
                cli_err("at most %d --proto, --protoset and -I options", SCH_MAX);
                return CLI_EXIT_USAGE;
            }
            sch_kind[sch_n] = opt;
            sch_arg[sch_n++] = optarg;
            break;
        case OPT_NO_LEARN: no_learn = 1; break;
        case OPT_GUESS: guess = 1; break;
        case OPT_JSON:
            if (!optarg || strcmp(optarg, "calls") == 0) {
                vo.json = VIEW_JSON_CALLS;
            } else if (strcmp(optarg, "messages") == 0) {
                vo.json = VIEW_JSON_MESSAGES;
            } else {
                cli_err("--json takes 'calls' or 'messages', not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            break;
        case OPT_THREADS:
            if (parse_u64(optarg, &n) || n == 0 || n > 2) {
                cli_err("--threads takes 1 or 2, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            vo.threads = (int)n;
            break;
        case 'c':
            if (parse_u64(optarg, &n) || n == 0) {
                cli_err("-c takes a positive count, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            vo.max_count = n;
            break;
        case OPT_PACKETS:
            if (parse_range(optarg, &n, &m)) {
                cli_err("--packets takes A or A-B or A-, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            vo.first_pkt = n;
            vo.last_pkt = m;
            break;
        case OPT_CONN:
            if (parse_u64(optarg, &n)) {
                cli_err("--conn takes a connection index, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            vo.conn = (int64_t)n;
            break;
        case OPT_STREAM:
            if (parse_u64(optarg, &n) || n > 0x7fffffff) {
                cli_err("--stream takes a stream id, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            vo.stream = (int64_t)n;
            break;
        case OPT_H2PORT:
            if (parse_u64(optarg, &n) || n == 0 || n > 65535) {
                cli_err("--h2-port takes a port number, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            if (dopts.n_h2_ports == DISSECT_MAX_H2_PORTS) {
                cli_err("at most %d --h2-port options", DISSECT_MAX_H2_PORTS);
                return CLI_EXIT_USAGE;
            }
            dopts.h2_ports[dopts.n_h2_ports++] = (uint16_t)n;
            break;
        case OPT_COLOR:
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never")) {
                cli_err("--color takes auto, always or never");
                return CLI_EXIT_USAGE;
            }
            color = optarg;
            break;
        case 'i': iface = optarg; break;
        case 'w': wfile = optarg; break;
        case 's':
            if (parse_u64(optarg, &n) || n < 64 || n > 262144) {
                cli_err("-s takes a snaplen from 64 to 262144");
                return CLI_EXIT_USAGE;
            }
            snaplen = (int)n;
            break;
        case 'q': quiet = 1; break;
        case 'h': fputs(read_help, stdout); return CLI_EXIT_OK;
        default: fputs(read_help, stderr); return CLI_EXIT_USAGE;
        }
    }
    if (!live && !file) {
        if (optind >= argc) {
            cli_err("read needs a capture file (grpcwire read FILE, or -r FILE; '-' is stdin)");
            return CLI_EXIT_USAGE;
        }
        file = argv[optind++];
    }
    if (live && file) {
        cli_err("live captures from an interface; use 'grpcwire read' for files");
        return CLI_EXIT_USAGE;
    }

    /* The rest is a BPF filter, as tcpdump takes it. */
    char filter[4096] = "";
    for (int i = optind; i < argc; i++) {
        if (strlen(filter) + strlen(argv[i]) + 2 >= sizeof filter) {
            cli_err("filter expression too long");
            return CLI_EXIT_USAGE;
        }
        if (filter[0])
            strcat(filter, " ");
        strcat(filter, argv[i]);
    }

    vo.out = stdout;
    vo.color = cli_want_color(color);
    vo.line_flush = live || isatty(STDOUT_FILENO);
    if (kind == VIEW_CONV || kind == VIEW_FRAMES)
        dopts.no_grpc = kind == VIEW_CONV;
    /* Keep only the message bodies the view shows: the call log previews the first each way. */
    if (!vo.json && (kind == VIEW_FRAMES || kind == VIEW_STATS))
        dopts.grpc.keep = GRPC_KEEP_NONE;
    else if (!vo.json && kind == VIEW_CALLS)
        dopts.grpc.keep = GRPC_KEEP_FIRST;
    dopts.grpc.no_header_lists = !(vo.json && kind == VIEW_CALLS); /* only JSON calls list them */

    char msg[512];
    cap_source *src = NULL;
    cap_writer *wr = NULL;
    dissect *d = NULL;
    view *v = NULL;
    cli_spec *sp = NULL; /* the reflection scan beside the main pass, when there is one */
    dissect_sink sink;
    int err = live ? cap_source_open_live(&src, iface, snaplen, msg, sizeof msg)
                   : cap_source_open_file(&src, file, msg, sizeof msg);
    if (err) {
        cli_err("%s", msg);
        return CLI_EXIT_FAIL;
    }
    if (filter[0] && cap_source_set_filter(src, filter, msg, sizeof msg)) {
        cli_err("%s", msg);
        rc = CLI_EXIT_USAGE;
        goto out;
    }
    if (wfile && cap_writer_open(&wr, wfile, cap_source_linktype(src), cap_source_snaplen(src), msg,
                                 sizeof msg)) {
        cli_err("%s", msg);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    schemas = load_schemas(sch_kind, sch_arg, sch_n, guess);
    if (!schemas) {
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    vo.schemas = schemas;
    learn_schemas = schemas;
    /* Passes before the main one (reflection, the split's sample) read the file again: only a
     * regular file can be read twice (a pipe such as <(zcat f.pcap.gz) would lose its start). */
    struct stat fst;
    int rereadable = !live && strcmp(file, "-") != 0 && stat(file, &fst) == 0 &&
                     S_ISREG(fst.st_mode);
    int scanned = !no_learn && rereadable && !dopts.no_grpc &&
                  (vo.json || kind == VIEW_CALLS || kind == VIEW_TREE);
    /* The second core dissects half of the connections when that pays (split_pays) and the
     * records can be merged back into one thread's order: files, the call log or --stats, no -c,
     * and no schemas learned during the pass (below). */
    int pays = rereadable && vo.threads >= 2 && (kind == VIEW_CALLS || kind == VIEW_STATS) &&
               !vo.max_count && !vo.line_flush && split_pays(file, filter, &dopts);
    /* Nearly every file mentions no reflection. When the main pass leaves a core idle (it is
     * not split), the scan runs there beside a main pass that assumes so (cli_spec); a mention
     * starts the pass again below. A pass that writes a capture (-w) does not guess. */
    refl_needles rn;
    reflection_needles(&rn);
    /* The call log's output is small: the scan has one core to itself and ends long before the
     * held output fills. JSON and the tree fill it early and then wait: a faster scan. */
    unsigned scan_threads = vo.json || kind == VIEW_TREE ? 0 : 1;
    sp = scanned && !wr && !pays ? cli_spec_start(file, rn.nd, 2, scan_threads, STDOUT_FILENO)
                                 : NULL;
    int refl = scanned && !sp && mentions_reflection(file), learned = 0;
    if (sp) {
        fflush(stdout); /* what stdio holds goes before what the scan's stream writes to fd 1 */
        vo.out = cli_spec_out(sp);
    }
again:
    if (refl)
        learned = learn_prepass(file, filter, &dopts) == 0; /* the main pass reports read errors */
    /* The main pass learns schemas only when nothing before it could: --stats shows none, and a
     * scanned file either taught them all in its first pass or mentions no reflection at all. */
    int learn_live = !no_learn && !dopts.no_grpc && kind != VIEW_STATS &&
                     !(scanned && (!refl || learned));
    if (pays && !learn_live) {
        dissect_sink sinks[2];
        if (view_new_pair(&v, kind, &vo, sinks) == 0 &&
            dissect_new_split(&d, &dopts, sinks, view_pair_merge, v) == 0)
            goto dissecting;
        view_del(v); /* no thread or no memory: one thread tries */
        v = NULL;
    }
    if (view_new(&v, kind, &vo, &sink)) {
        cli_err("out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    if (learn_live) {
        /* Live and stdin learn as they go: later calls benefit. */
        learn_next = sink.on_message;
        sink.on_message = learn_message;
    }
    if (dissect_new(&d, &dopts, &sink)) {
        cli_err("out of memory");
        rc = CLI_EXIT_FAIL;
        goto out;
    }
dissecting:

    if (live) {
        live_src = src;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        if (!quiet)
            fprintf(stderr, "grpcwire: listening on %s%s%s\n", iface, filter[0] ? ", filter: " : "",
                    filter);
    }

    /* Progress on stderr for long file reads, only when a human is watching. */
    off_t fsize = 0;
    struct stat stb;
    int progress = !live && !quiet && isatty(STDERR_FILENO) && strcmp(file, "-") != 0 &&
                   stat(file, &stb) == 0 && (fsize = stb.st_size) > (64 << 20);
    double last_progress = now_s();

    cap_packet pkt;
    uint64_t npkts = 0;
    while (!stop_flag && !view_done(v)) {
        int r = cap_source_next(src, &pkt, msg, sizeof msg);
        if (r == 0)
            break;
        if (r < 0) {
            if (sp && cli_spec_found(sp))
                goto restart; /* the pass that counts says it */
            /* Everything decodable before the damage is shown: finish the views first. */
            dissect_finish(d);
            view_finish(v);
            cli_err("%s", msg);
            rc = CLI_EXIT_FAIL;
            goto out;
        }
        npkts++;
        if (wr && cap_writer_write(wr, pkt.ts_ns, pkt.data, pkt.caplen, pkt.wirelen)) {
            cli_err("%s: write failed", wfile);
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (dissect_packet(d, &pkt) == GW_ENOMEM) {
            if (sp && cli_spec_found(sp))
                goto restart;
            cli_err("out of memory at packet %" PRIu64, pkt.no);
            rc = CLI_EXIT_FAIL;
            break;
        }
        if (progress && (npkts & 0xffff) == 0 && now_s() - last_progress > 1.0) {
            last_progress = now_s();
            if (pkt.file_offset != UINT64_MAX)
                fprintf(stderr, "\rgrpcwire: %s: %3d%% (%" PRIu64 " packets)", file,
                        (int)(100.0 * (double)pkt.file_offset / (double)fsize), npkts);
        }
    }
    if (progress)
        fputs("\r\033[K", stderr);
    dissect_finish(d);
    int out_err = view_finish(v);
    if (sp && cli_spec_found(sp))
        goto restart;
    if (out_err) {
        cli_err("writing output failed");
        rc = CLI_EXIT_FAIL;
    }
    if (live && !quiet) {
        const dissect_stats sts = dissect_get_stats(d), *st = &sts;
        fprintf(stderr,
                "grpcwire: %" PRIu64 " packets captured, %" PRIu64 " dropped by the kernel, %" PRIu64
                " TCP connections, %" PRIu64 " calls\n",
                st->packets, cap_source_dropped(src), st->conns, st->calls);
    }
out:
    live_src = NULL;
    dissect_del(d);
    view_del(v);
    if (cli_spec_end(sp) && rc == CLI_EXIT_OK) {
        cli_err("writing output failed");
        rc = CLI_EXIT_FAIL;
    }
    if (wr) {
        cap_writer_flush(wr);
        cap_writer_del(wr);
    }
    cap_source_del(src);
    pb_schemas_del(schemas);
    learn_schemas = NULL;
    return rc;

restart: /* the scan found reflection: what this pass wrote is dropped, and it runs again */
    dissect_del(d);
    d = NULL;
    view_del(v);
    v = NULL;
    cli_spec_end(sp);
    sp = NULL;
    vo.out = stdout;
    cap_source_del(src);
    src = NULL;
    if (cap_source_open_file(&src, file, msg, sizeof msg) ||
        (filter[0] && cap_source_set_filter(src, filter, msg, sizeof msg))) {
        cli_err("%s", msg);
        rc = CLI_EXIT_FAIL;
        goto out;
    }
    refl = 1;
    goto again;
}
