/* sim_call: one generating request (chat or completion, native or OpenAI) from plan to last
 * byte: it holds the deterministic reply planned for the request, runs it as an engine job,
 * and writes it in the API's own framing (NDJSON, SSE, or one JSON body), with the injected
 * faults applied on the way. */
#ifndef HERD_SIM_CALL_H
#define HERD_SIM_CALL_H

#include <jansson.h>
#include <stdbool.h>

#include "common/hbuf.h"
#include "sim/sim_server.h"

enum sim_call_api {
    SIM_API_CHAT,           /* POST /api/chat */
    SIM_API_GENERATE,       /* POST /api/generate */
    SIM_API_OAI_CHAT,       /* POST /v1/chat/completions */
    SIM_API_OAI_COMPLETION, /* POST /v1/completions */
};

struct sim_call {
    struct sim_node *node;
    struct httpd_req *req;
    struct sim_job *job;
    enum sim_call_api api;
    bool stream;
    char model_echo[SIM_NAME_MAX]; /* the name as the client sent it */
    double entry;                  /* model time the request arrived */
    /* the planned reply */
    struct hbuf text;  /* the text of every token, one after another */
    size_t *piece_end; /* token i is text[piece_end[i-1], piece_end[i]); tokens of
                          a tool call are empty */
    size_t piece_cap;
    int n_pieces;
    int n_thinking;          /* the first n_thinking pieces are reasoning */
    json_t *tool_calls;      /* native shape, or NULL */
    const char *done_reason; /* "stop" or "length" */
    json_t *context;         /* /api/generate's context ids, or NULL */
    bool load_only;          /* empty prompt: load the model and say so */
    /* OpenAI framing */
    char oai_id[32];
    long created;
    bool include_usage;
    bool role_sent;
    /* faults */
    int drop_after;  /* -1 none */
    int stall_after; /* -1 none */
    int chunks;
    bool started;
};

/* Creates a call for a request; the planned reply is filled in by the API layer. */
struct sim_call *sim_call_new(struct sim_node *n, struct httpd_req *r, enum sim_call_api api);
/* Frees a call that was never run. Accepts NULL. */
void sim_call_free(struct sim_call *c);

/* Plans the reply text: n tokens of deterministic words (the first n_thinking as reasoning),
 * or, when tool is not NULL, a call of that tool (a function object from the request's tools)
 * with arguments from its schema, or, when format is not NULL, JSON text satisfying it. */
void sim_call_plan(struct sim_call *c, uint64_t seed, int n_tokens, int n_thinking,
                   const json_t *tool, const json_t *format);

/* The text of tokens [from, to) (contiguous, not NUL-terminated); *len gets its length. */
const char *sim_call_text(const struct sim_call *c, int from, int to, size_t *len);

/* Runs the call: applies faults, submits the job (p's token sequences are taken over) and
 * answers the client. The call owns itself from here and frees itself when done. */
void sim_call_run(struct sim_call *c, struct sim_job_params *p);

/* Replies with an error in the call's API shape and frees the call. */
void sim_call_fail(struct sim_call *c, int status, const char *msg);

/* Reads a request body that must be a JSON object. On failure replies 400 in the API's shape
 * (which frees r) and returns NULL; else the caller owns the returned reference. */
json_t *sim_read_body(struct httpd_req *r);

#endif
