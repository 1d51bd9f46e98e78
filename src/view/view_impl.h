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
};

/* Split reading (view_split.c): the end of the pair's pass, and its buffers' release. */
void view_pair_end(view *v);
void view_pair_free(view *v);
/* End of a record: flush if needed; count it. */
void view_record_done(view *v);
/* Write what is pending now. */
void view_flush(view *v);
/* Queue one use of a job in output order (rendered and appended here when there is no
 * writer thread). */
void view_put_job(view *v, view_job *j);
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
