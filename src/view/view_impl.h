/* view_impl: what the view implementations share (private to src/view). */
#ifndef VIEW_IMPL_H
#define VIEW_IMPL_H
#include "view/view.h"
#include "view/view_out.h"

#define VIEW_FLUSH_AT (64 * 1024)

/* Split reading (view_split.c): text in v->out up to `end` came from event `seq`. */
typedef struct view_mark {
    uint64_t seq;
    size_t end;
} view_mark;
/* One epoch's text of one view, with its marks. */
typedef struct view_epoch {
    gw_buf text;
    view_mark *m; /* owned */
    size_t n, cap;
} view_epoch;
/* Append a string literal (its length counted by the compiler). */
#define VIEW_PUT(b, lit) gw_buf_append((b), "" lit, sizeof(lit) - 1)

/* view_json.c's memo of renderings that repeat from call to call: header pairs (the same
 * :method, content-type, user-agent... on every call) and a connection's endpoints.
 * One per view, used only by the thread dissecting into it (never by the writer thread's jobs):
 * views on different threads never share one. Zeroed is empty. */
#define VIEW_JSON_PAIRS 512    /* pair slots, a power of two */
#define VIEW_JSON_PAIR_KEY 64  /* key bytes a pair slot holds: the name, one byte, the value */
#define VIEW_JSON_PAIR_OUT 80  /* rendered bytes a pair slot holds */
typedef struct view_json_pair_slot {
    uint64_t head, tail; /* the key's first and last 8 bytes (packed when shorter) */
    uint8_t nl, kl;      /* name and key lengths */
    uint8_t n;           /* rendering's length; 0: empty */
    uint8_t hits;        /* recent use: a miss replaces the slot only once this is 0 */
    uint8_t key[VIEW_JSON_PAIR_KEY];
    uint8_t out[VIEW_JSON_PAIR_OUT];
} view_json_pair_slot;
#define VIEW_JSON_HEADS 16     /* connection slots, a power of two */
typedef struct view_json_head_slot {
    uint64_t conn;
    tcp_endpoint client, server;
    size_t n;       /* 0: empty */
    uint8_t s[240]; /* ","conn":N,"client":"..","server":"..","stream": */
} view_json_head_slot;
typedef struct view_json_memo {
    view_json_pair_slot pair[VIEW_JSON_PAIRS];
    view_json_head_slot head[VIEW_JSON_HEADS];
} view_json_memo;
/* What view_json_pair_into(d, a, an, b, bn) writes, through memo m: d has room for
 * 6(an+bn)+7 + VIEW_JSON_PAIR_OUT bytes (a hit copies a whole slot); returns the bytes
 * written. Only pairs laid out as a call's header lists are (the value one byte after the
 * name's end) are memoised; others are rendered each time. */
size_t view_json_pair_memo(view_json_memo *m, uint8_t *d, const char *a, size_t an, const char *b,
                           size_t bn);

struct view {
    int kind;
    view_opts o;
    const view_colors *c;
    gw_buf out;          /* pending output, flushed at VIEW_FLUSH_AT or per record */
    uint64_t count;      /* records printed (for -c) */
    int done;            /* max_count reached */
    int err;             /* a write failed */
    int64_t ts_base;     /* first packet's timestamp, for relative times; -1 before */
    view_out *q;         /* the writer thread's queue; NULL: this thread writes */
    void *state;         /* the kind's own state, owned by the view */
    void (*finish)(view *v);
    void (*del_state)(view *v);
    /* Split reading (view_new_pair): records stay in out, marked by event, until their epoch
     * is merged with the peer's and written by view_pair_merge. */
    int split;
    struct view *peer;   /* the second view, owned by the first */
    uint64_t cur_seq;    /* the event whose records are being appended */
    view_epoch cur;      /* marks of out (cur.text unused) */
    view_epoch ep[DISSECT_EPOCHS];
    int fd;              /* the first view's: where merged text is written (o.out's) */
    atomic_int merge_err; /* a write of merged text failed */
    /* Add a peer's totals to this view's (views that print only at the end). */
    void (*absorb)(view *v, const view *peer);
    view_json_memo jm;   /* view_json.c's, last: the other views never touch it */
};

/* Split reading (view_split.c): the end of the pair's pass, and its buffers' release. */
void view_pair_end(view *v);
void view_pair_free(view *v);
/* End of a record: flush if needed; count it. */
void view_record_done(view *v);
/* Write what is pending now. */
void view_flush(view *v);
/* Queue one use of a job in output order (rendered and appended here when there is no
 * writer thread). last: no use of j follows, so its text need not be kept, and the caller's
 * reference goes with it (the caller forgets j). */
void view_put_job(view *v, view_job *j, int last);
/* Packet selection by number. */
int view_pkt_selected(const view *v, uint64_t no);

int view_calls_init(view *v, dissect_sink *s);
int view_frames_init(view *v, dissect_sink *s);  /* also the tree (kind decides) */
int view_conv_init(view *v, dissect_sink *s);
int view_stats_init(view *v, dissect_sink *s);

/* JSON helpers shared by the views (view_json.c). */
void view_json_kv_list(gw_buf *b, const grpc_kv *kv, size_t n);
/* A job rendering message m of c (the body of a message object, without braces); `take` is m's
 * bytes already owned by the caller (grpc_call_take_data), or NULL to copy them. NULL when out
 * of memory. */
view_job *view_json_message_job(view *v, const grpc_call *c, const grpc_msg *m, uint8_t *take);
/* Messages whose bytes are shorter than this are rendered in place, not by a job: a job (three
 * allocations, a queue entry, its own text) costs more than rendering a small body. */
#define VIEW_JOB_MIN 1024
/* Render message m of c in place into v->out (the body, as a job would). */
void view_json_message_here(view *v, const grpc_call *c, const grpc_msg *m);
/* The head of a --json=messages object up to the message body. */
void view_json_message_head(view *v, const grpc_call *c, int from_client);
/* A call object; jobs[i] renders c->msgs[i], or when jobs or jobs[i] is NULL the record itself
 * is rendered in place. */
void view_json_call(view *v, const grpc_call *c, view_job **jobs);
/* A JSON string, or null for NULL (view_json_string from view_pb.h does the escaping). */
void view_json_cstr(gw_buf *b, const char *s);

#endif
