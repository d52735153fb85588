/* coord: the coordinator's core (settings, fleet, queues, traces, the HTTP server and client,
 * the liveness and reaper timers); the parts on it are wired by herd.c. */
#include "coord/coord.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/timeutil.h"
#include "coord/trace_store.h"

static void on_monitor(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord *c = arg;
    if (registry_tick(&c->registry, time_wall()) == 0)
        return;
    /* Requests still waiting for a slot on a node that went offline go elsewhere. */
    for (size_t i = 0; i < c->registry.n; i++)
        if (c->registry.nodes[i]->status == NODE_OFFLINE && c->hooks.node_gone)
            c->hooks.node_gone(c, c->registry.nodes[i]->id);
}

static void on_reaper(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord *c = arg;
    if (c->hooks.reap)
        c->hooks.reap(c);
}

void coord_begin_drain(struct coord *c)
{
    c->draining = true;
    if (c->hooks.drain)
        c->hooks.drain(c);
    LOG_INFO("draining: new requests get 503; %zu in flight may finish", c->n_active);
}

static void weights_from_settings(struct score_weights *w, const struct coord_settings *s)
{
    score_weights_default(w);
    w->hot = s->score_hot;
    w->warm = s->score_warm;
    w->cold = s->score_cold;
    w->memory_fit_max = s->score_memory_fit_max;
    w->queue_max_penalty = s->score_queue_max_penalty;
    w->queue_penalty_per = s->score_queue_penalty_per;
    w->wait_max_penalty = s->score_wait_max_penalty;
    w->role_affinity_max = s->score_role_affinity_max;
    w->role_large_gb = s->score_role_large_gb;
    w->role_small_gb = s->score_role_small_gb;
    w->availability_max = s->score_availability_max;
    w->context_fit_max = s->score_context_fit_max;
    w->bandwidth_aware = s->bandwidth_aware;
    w->queue_bandwidth_normalize = s->queue_bandwidth_normalize;
    w->policy = (enum score_policy)s->routing_policy;
}

struct coord *coord_new(struct event_base *base, struct coord_settings *settings, char *err,
                        size_t errlen)
{
    struct coord *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->base = base;
    c->settings = settings;
    c->started = time_wall();
    weights_from_settings(&c->weights, settings);
    registry_init(&c->registry, settings->heartbeat_timeout, settings->heartbeat_offline);
    queue_set_init(&c->queues, (int)settings->max_queue);
    cost_table_init(&c->costs, 4096);
    prefix_index_init(&c->prefixes);
    breaker_init(&c->breakers);
    char path[4096];
    snprintf(path, sizeof path, "%s/latency.db", settings->data_dir);
    c->traces = trace_store_open(base, path, 200, (int)settings->trace_retention_days, err, errlen);
    struct httpd_limits lim = {
        .max_body_bytes = (size_t)settings->max_body_mb * 1024 * 1024,
        .max_header_bytes = (size_t)settings->max_header_kb * 1024,
        .max_header_count = (size_t)settings->max_headers,
        .header_timeout_s = settings->header_timeout,
        .idle_timeout_s = settings->idle_timeout,
        .max_conns_per_addr = (size_t)settings->max_conns_per_client,
    };
    c->httpd = httpd_new(base, &lim);
    c->httpc = httpc_new(base);
    c->monitor = event_new(base, -1, EV_PERSIST, on_monitor, c);
    c->reaper = event_new(base, -1, EV_PERSIST, on_reaper, c);
    LIST_INIT(&c->active);
    TAILQ_INIT(&c->held);
    LIST_INIT(&c->pulls);
    if (!c->traces || !c->httpd || !c->httpc || !c->monitor || !c->reaper) {
        if (!err[0])
            snprintf(err, errlen, "out of memory");
        coord_free(c);
        return NULL;
    }
    if (settings->tls_cert && *settings->tls_cert) {
        if (!settings->tls_key || !*settings->tls_key) {
            snprintf(err, errlen, "--tls-cert needs --tls-key (FLEET_TLS_KEY)");
            coord_free(c);
            return NULL;
        }
        if (httpd_use_tls(c->httpd, settings->tls_cert, settings->tls_key, err, errlen) != 0) {
            coord_free(c);
            return NULL;
        }
    } else if (settings->tls_key && *settings->tls_key) {
        snprintf(err, errlen, "--tls-key needs --tls-cert (FLEET_TLS_CERT)");
        coord_free(c);
        return NULL;
    }
    httpc_set_ca_file(c->httpc, settings->tls_ca);
    struct timeval tv = time_tv(settings->heartbeat_interval);
    event_add(c->monitor, &tv);
    /* Check a few times per stale period, at least every 5 s. */
    double every = settings->stale_timeout / 4 < 5 ? settings->stale_timeout / 4 : 5;
    struct timeval rt = time_tv(every);
    event_add(c->reaper, &rt);
    return c;
}

void coord_free(struct coord *c)
{
    if (!c)
        return;
    httpd_free(c->httpd); /* requests in flight are told their clients left */
    c->httpd = NULL;
    httpc_free(c->httpc);
    if (c->monitor)
        event_free(c->monitor);
    if (c->reaper)
        event_free(c->reaper);
    trace_store_close(c->traces);
    queue_set_free(&c->queues);
    cost_table_free(&c->costs);
    prefix_index_free(&c->prefixes);
    registry_free(&c->registry);
    free(c);
}

int coord_listen(struct coord *c, int *bound_port)
{
    int port = 0;
    int rc = httpd_listen(c->httpd, c->settings->host, (int)c->settings->port, &port);
    c->port = port;
    if (bound_port)
        *bound_port = port;
    return rc;
}

void coord_node_unreachable(struct coord *c, const char *node_id, const char *why)
{
    struct node *n = registry_find(&c->registry, node_id);
    if (!n || n->status == NODE_OFFLINE)
        return;
    n->status = NODE_OFFLINE;
    LOG_WARN("node %s is unreachable (%s): no requests go to it until its next heartbeat", node_id,
             why);
    if (c->hooks.node_gone)
        c->hooks.node_gone(c, node_id);
}

int coord_node_parallel(const struct coord *c, const struct node *n)
{
    return n->num_parallel > 0 ? n->num_parallel : (int)c->settings->default_parallel;
}

int coord_queue_concurrency(const struct coord *c, const struct node *n)
{
    /* The other policies send every request on at once, as a plain proxy does: the node's
     * Ollama queues what its slots cannot take. */
    if (c->settings->routing_policy != SCORE_POLICY_HERD &&
        c->settings->routing_policy != SCORE_POLICY_SIGNALS)
        return INT_MAX / 2;
    return coord_node_parallel(c, n);
}

void coord_request_id(struct coord *c, char *out, size_t outlen)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)(time_wall() * 1e6) ^ (++c->next_request * 0x9E3779B97F4A7C15ULL);
        memcpy(b, &x, 8);
        memcpy(b + 8, &c->next_request, 8);
    }
    size_t n = 0;
    for (size_t i = 0; i < sizeof b && n + 2 < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%02x", b[i]);
}
