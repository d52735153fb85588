#include "coord/coord_explain.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/model_caps.h"
#include "common/model_name.h"
#include "coord/fleet_view.h"

static const char *outcome_name(enum route_outcome o)
{
    static const char *const names[] = {"go", "hold", "pull", "not_found", "no_memory"};
    return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}

/* GET /fleet/route?model=M[&prompt_tokens=N][&max_tokens=K][&num_ctx=C]: what herd would do
 * with such a request now. Nothing is sent, the turn is not taken, no cache is assumed. */
static void handle_route(struct httpd_req *r, void *arg)
{
    struct coord *c = arg;
    const char *sent = httpd_req_query(r, "model");
    char model[MODEL_NAME_MAX];
    if (!sent || model_name_normalize(sent, model, sizeof model) != 0) {
        httpd_reply_error(r, 400, "model is required: /fleet/route?model=NAME");
        return;
    }
    long tokens, max_output, num_ctx;
    if (!httpd_query_long(r, "prompt_tokens", 100, 1, 10000000, &tokens) ||
        !httpd_query_long(r, "max_tokens", 0, 0, 10000000, &max_output) ||
        !httpd_query_long(r, "num_ctx", 0, 0, 10000000, &num_ctx))
        return;
    struct route_fleet view;
    fleet_view_of(c, &view);
    char chain[1][MODEL_NAME_MAX];
    snprintf(chain[0], sizeof chain[0], "%s", model);
    struct route_ask ask = {
        .chain = (const char(*)[MODEL_NAME_MAX])chain,
        .n_chain = 1,
        .model_sent = sent,
        .needs = MCAP_COMPLETION,
        .num_ctx = num_ctx,
        .tokens = tokens,
        .max_output = max_output,
        .queued = true,
    };
    struct route_choice ch;
    enum route_outcome o = route_decide(&view, &ask, &ch);
    json_t *ranking = json_array();
    for (size_t i = 0; i < ch.n_ranking; i++) {
        const struct score_result *res = &ch.ranking[i];
        json_t *e = json_pack("{s:s, s:s}", "node_id", res->node->id, "verdict",
                              score_verdict_name(res->verdict));
        if (res->verdict == SCORE_ELIGIBLE)
            json_object_set_new(e, "scores_breakdown", score_breakdown_json(&res->b));
        json_array_append_new(ranking, e);
    }
    json_t *out = json_pack(
        "{s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:o}", "model", ch.model[0] ? ch.model : model,
        "outcome", outcome_name(o), "node_id", ch.node ? ch.node->id : NULL, "fallback",
        route_fallback_name(ch.fallback), "context_action", route_context_name(ch.context), "why",
        ch.why[0] ? ch.why : NULL, "ranking", ranking);
    route_choice_free(&ch);
    httpd_reply_json(r, 200, NULL, out, false);
}

void coord_explain_routes(struct coord *c)
{
    httpd_route(c->httpd, HTTPD_GET, "/fleet/route", handle_route, c);
}
