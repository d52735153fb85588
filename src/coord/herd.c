#include "coord/herd.h"

#include <stdio.h>

#include "common/api_error.h"

#include "coord/coord_api.h"
#include "coord/coord_auth.h"
#include "coord/coord_bench.h"
#include "coord/coord_catalog.h"
#include "coord/coord_dashboard.h"
#include "coord/coord_events.h"
#include "coord/coord_manage.h"
#include "coord/coord_model_api.h"
#include "coord/coord_explain.h"
#include "coord/coord_metrics.h"
#include "coord/coord_models.h"
#include "coord/coord_proxy.h"
#include "coord/coord_poll.h"
#include "coord/coord_pull.h"
#include "coord/coord_tags.h"
#include "coord/fwd.h"

/* herd answers errors in the shape of the API asked: OpenAI's under /v1/, Ollama's elsewhere. */
static void error_format(void *arg, const char *path, int status, const char *msg,
                         struct httpd_error_body *out)
{
    (void)arg;
    api_error_for_path(path, status, msg, &out->json, &out->content_type, &out->newline);
}

static void on_drain(struct coord *c)
{
    coord_bench_stop(c->bench); /* its requests would be refused from now on */
}

struct coord *herd_new(struct event_base *base, struct coord_settings *settings, char *err,
                       size_t errlen)
{
    struct coord *c = coord_new(base, settings, err, errlen);
    if (!c)
        return NULL;
    c->hooks.node_gone = fwd_node_gone;
    c->hooks.reap = fwd_reap;
    c->hooks.drain = on_drain;
    httpd_set_error_format(c->httpd, error_format, NULL);
    c->auth = coord_auth_new(c, err, errlen);
    if (!c->auth) {
        herd_free(c);
        return NULL;
    }
    c->catalog = coord_catalog_new(c);
    if (!c->catalog) {
        snprintf(err, errlen, "out of memory");
        herd_free(c);
        return NULL;
    }
    coord_api_routes(c);
    coord_tags_routes(c);
    coord_dashboard_routes(c);
    coord_models_routes(c);
    if (coord_manage_init(c) != 0 || coord_model_api_routes(c) != 0) {
        snprintf(err, errlen, "out of memory");
        herd_free(c);
        return NULL;
    }
    c->bench = coord_bench_new(c);
    c->events = coord_events_new(c);
    coord_proxy_routes(c);
    coord_explain_routes(c);
    c->poll = coord_poll_new(c, err, errlen);
    if (!c->poll) {
        herd_free(c);
        return NULL;
    }
    c->metrics = coord_metrics_new(c);
    if (!c->metrics) {
        snprintf(err, errlen, "out of memory");
        herd_free(c);
        return NULL;
    }
    return c;
}

void herd_free(struct coord *c)
{
    if (!c)
        return;
    httpd_free(c->httpd); /* requests in flight are told their clients left */
    c->httpd = NULL;
    coord_auth_free(c->auth);
    coord_metrics_free(c->metrics);
    coord_events_free(c->events);
    coord_poll_free(c->poll);
    c->poll = NULL;
    coord_manage_free(c);
    coord_model_api_free(c);
    coord_catalog_free(c->catalog);
    c->catalog = NULL;
    coord_pull_free_all(c);
    coord_bench_free(c->bench);
    coord_free(c);
}
