/* coord_fwd: one proxied request as the coordinator's parts share it (private to
 * coord_proxy.c, which relays it; coord_route.c, which chooses its model and node or makes it
 * wait; coord_pull.c, which pulls a model no node has). */
#ifndef HERD_COORD_FWD_H
#define HERD_COORD_FWD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "common/hbuf.h"
#include "common/ndjson.h"
#include "common/sse.h"
#include "coord/coord.h"
#include "coord/route.h"

#define MAX_HEADERS 64
#define MAX_ATTEMPTS 11 /* the first try and up to FLEET_MAX_RETRIES (at most 10) more */
#define MAX_FALLBACKS 8

/* fwd_route() results besides 0 and an HTTP status. */
#define FWD_HOLD 1 /* no node now, but one may come: wait in the holding queue */
#define FWD_PULL 2 /* no node has the model: pull it */

enum fwd_api {
    API_CHAT,
    API_GENERATE,
    API_EMBED,
    API_EMBEDDINGS,
    API_SHOW,
    API_OAI_CHAT,
    API_OAI_COMPLETIONS,
    API_OAI_EMBEDDINGS,
};

struct fwd_route {
    const char *path;
    enum fwd_api api;
    bool openai;
    bool queued;    /* takes a slot on node:model and is traced */
    bool embedding; /* an embedding API: never served by another model */
};

enum framing { FRAME_WHOLE, FRAME_NDJSON, FRAME_SSE };

struct pull;

struct fwd {
    struct fq_waiter w; /* first: the queue hands it back */
    struct coord *c;
    LIST_ENTRY(fwd) link;       /* in c->active */
    TAILQ_ENTRY(fwd) hold_link; /* in c->held while held */
    bool held;
    struct event *hold_timer;
    struct pull *pull; /* the pull it waits for, or NULL */
    TAILQ_ENTRY(fwd) pull_link;
    double t_progress; /* last time the node sent something (monotonic) */
    struct httpd_req *req;
    const struct fwd_route *route;
    char id[40];

    /* What was asked. */
    char model_sent[MODEL_NAME_MAX];               /* as the client wrote it */
    char chain[MAX_FALLBACKS + 1][MODEL_NAME_MAX]; /* the model, then fallback_models */
    int n_chain;
    unsigned needs;  /* enum model_cap the request needs */
    int64_t num_ctx; /* options.num_ctx of an Ollama request; 0 when absent */
    int64_t tokens;  /* estimated prompt tokens, for the context-fit signal */
    char *raw;       /* the client's body */
    size_t raw_len;
    bool drop_extra; /* the body has fallback_models or metadata, which Ollama must not get */
    bool add_usage;  /* herd asks for usage in an OpenAI stream (and keeps it to itself) */

    /* What serves it. */
    char model[MODEL_NAME_MAX];   /* the model served (a fallback when one was chosen) */
    bool model_fixed;             /* chosen: retries and moves keep it */
    enum route_fallback fallback; /* why model is not chain[0] */
    bool pulled;                  /* its model was pulled for it: serve that model */
    bool strip_ctx;               /* take options.num_ctx out of the body */
    enum route_context context_action;
    int64_t loaded_ctx; /* for X-Fleet-Context-Overflow */
    char node_id[NODE_ID_MAX];
    char url[512];
    char client_ip[64];
    char *tags;   /* JSON array text for the trace (request_tags), or NULL */
    char app[64]; /* the name of the client's API key, or "" */
    char *headers[MAX_HEADERS + 1];
    int n_headers;
    char *body; /* what goes to the node: raw, or an edited copy */
    size_t body_len;
    bool strip_usage; /* the usage herd asked for is dropped on the way back */
    struct fleet_queue *q;
    bool in_flight;
    struct event *admit;
    struct score_breakdown score;

    /* The attempt in progress. */
    struct httpc_req *up;
    long status;
    char ctype[128];
    bool got_body; /* a byte of this attempt's body has arrived */
    bool retrying; /* this attempt failed; its bytes are not for the client */
    int retries;
    char excluded[MAX_ATTEMPTS][NODE_ID_MAX];
    int n_excluded;
    char failures[1024]; /* what went wrong on each node tried, for the final message */
    bool started;
    enum framing framing;
    struct ndjson_framer nd;
    struct sse_framer sse;
    bool framer_ok;
    struct hbuf whole;
    bool saw_done;
    bool saw_error;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    bool slow; /* the client's queue passed its mark during this delivery */
    char error[2048];
    double t0;
    double t_first;
};

/* coord_proxy.c */
/* Sends f to its chosen node now (f->url, f->node_id set). On failure f is answered and
 * freed. */
void fwd_start_upstream(struct fwd *f);
/* Answers f with an error in its API's shape, records it as failed and frees it. */
void fwd_fail(struct fwd *f, int status, const char *msg);
/* Whether f already tried (and left out) this node. */
bool fwd_excluded(const struct fwd *f, const char *node_id);

/* coord_route.c */
/* The fleet as route_decide() sees it now (borrowed from c until the loop runs again). */
void fwd_fleet_view(const struct coord *c, struct route_fleet *v);
/* What f asks, for route_decide(); excluded (room for MAX_ATTEMPTS) gets f's tried nodes.
 * Borrowed from f. */
void fwd_ask(const struct fwd *f, struct route_ask *a, const char **excluded);
/* Chooses the model (the first time) and the node, and takes or waits for a slot there.
 * Returns 0 (on its way or queued; f may even be freed already), FWD_HOLD, FWD_PULL, or
 * an HTTP status with a message in err. */
int fwd_route(struct fwd *f, char *err, size_t errlen);
/* fwd_route(), then what its answer calls for: waiting in the holding queue, waiting for a
 * pull, or an error to the client. f may be freed. */
void fwd_dispatch(struct fwd *f);
/* Takes f out of the holding queue, if it is there. */
void fwd_unhold(struct fwd *f);

/* coord_pull.c */
/* Makes f wait for a pull of f->chain[0], starting one unless it is already under way.
 * Returns 0, or an HTTP status with a message in err (no node can take the model). */
int coord_pull_wait(struct fwd *f, char *err, size_t errlen);
/* f stops waiting for its pull (it is being freed). */
void coord_pull_forget(struct fwd *f);
/* Cancels every pull (herd is stopping); waiters are not answered. */
void coord_pull_free_all(struct coord *c);

#endif
