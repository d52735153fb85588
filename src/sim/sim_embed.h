/* sim_embed: one embedding request, from its inputs to the vectors in its API's shape. */
#ifndef HERD_SIM_EMBED_H
#define HERD_SIM_EMBED_H

#include <jansson.h>
#include <stdbool.h>

#include "sim/sim_server.h"

enum sim_embed_api { SIM_EMBED_NATIVE, SIM_EMBED_LEGACY, SIM_EMBED_OPENAI };

struct sim_embed_request {
    enum sim_embed_api api;
    char model_echo[SIM_NAME_MAX];
    struct sim_model_spec model;
    json_t *inputs; /* array of strings; taken over */
    int dimensions; /* 0 = the model's */
    bool truncate;
    bool base64; /* OpenAI encoding_format */
    bool has_keep_alive;
    double keep_alive_s;
    int64_t num_ctx;
};

/* Runs an embedding request and answers it in its API's shape (sim_embed.c). */
void sim_embed_run(struct sim_node *n, struct httpd_req *r, struct sim_embed_request *er);

#endif
