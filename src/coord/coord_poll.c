/* coord_poll: Ollamas without an agent, polled by herd. */
#include "coord/coord_poll.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/ollama_state.h"
#include "common/secret.h"
#include "common/timeutil.h"
#include "coord/coord_heartbeat.h"
#include "coord/poll_spec.h"
#include "coord/fwd.h"

#define PROBES 3
#define PROBE_MAX_BODY (8 * 1024 * 1024)
#define PROBE_TIMEOUT_MS 10000
#define BACKOFF_MAX_S 60.0

enum probe_kind { PROBE_VERSION, PROBE_TAGS, PROBE_PS };
static const char *const probe_path[PROBES] = {"/api/version", "/api/tags", "/api/ps"};

struct poll_target;

struct poll_probe {
    struct poll_target *t;
    enum probe_kind kind;
    struct httpc_req *up;
    char *body; /* the answer, when it came */
    size_t len;
    char err[160];
};

struct poll_target {
    struct coord_poll *p;
    char id[NODE_ID_MAX];
    char url[256];
    char key[256]; /* the URL compared with what herd-nodes report */
    struct event *timer;
    struct poll_probe probe[PROBES];
    int pending;
    int failures;               /* polls in a row that failed */
    char taken_by[NODE_ID_MAX]; /* a herd-node that reports this Ollama, or "" */
};

struct coord_poll {
    struct coord *c;
    struct poll_target **t; /* each in place while it polls (its probes point to it) */
    size_t n;
};

/* "http://LocalHost:11434/" and "http://127.0.0.1:11434" are the same Ollama. */
static void url_key(const char *url, char *out, size_t outlen)
{
    char tmp[256];
    size_t n = 0;
    for (const char *s = url; *s && n + 1 < sizeof tmp; s++)
        tmp[n++] = (char)tolower((unsigned char)*s);
    tmp[n] = '\0';
    while (n && tmp[n - 1] == '/')
        tmp[--n] = '\0';
    const char *host = strstr(tmp, "://");
    host = host ? host + 3 : tmp;
    if (strncmp(host, "localhost", 9) == 0) {
        snprintf(out, outlen, "%.*s127.0.0.1%s", (int)(host - tmp), tmp, host + 9);
    } else {
        snprintf(out, outlen, "%s", tmp);
    }
    /* No port: Ollama's. */
    const char *h = strstr(out, "://");
    h = h ? h + 3 : out;
    const char *colon = strrchr(h, ':');
    const char *bracket = strrchr(h, ']');
    if (!colon || (bracket && colon < bracket)) {
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, ":11434");
    }
}

static void schedule(struct poll_target *t, double seconds)
{
    struct timeval tv = time_tv(seconds);
    evtimer_add(t->timer, &tv);
}

static void probes_clear(struct poll_target *t)
{
    for (int k = 0; k < PROBES; k++) {
        struct poll_probe *q = &t->probe[k];
        if (q->up)
            httpc_cancel(q->up);
        q->up = NULL;
        free(q->body);
        q->body = NULL;
        q->len = 0;
        q->err[0] = '\0';
    }
    t->pending = 0;
}

/* The heartbeat herd-node would have sent for this Ollama, from its answers; NULL with the
 * reason in err when they do not make one. */
static json_t *heartbeat_of(const struct poll_target *t, char *err, size_t errlen)
{
    const struct poll_probe *tags = &t->probe[PROBE_TAGS], *ps = &t->probe[PROBE_PS];
    const struct poll_probe *version = &t->probe[PROBE_VERSION];
    if (!tags->body || !ps->body) {
        snprintf(err, errlen, "%s", !ps->body ? ps->err : tags->err);
        return NULL;
    }
    struct ollama_state st = {.up = true};
    if (ollama_parse_ps(ps->body, ps->len, &st.loaded, err, errlen) != 0 ||
        ollama_parse_tags(tags->body, tags->len, &st.available, err, errlen) != 0) {
        ollama_state_clear(&st);
        return NULL;
    }
    if (version->body)
        ollama_parse_version(version->body, version->len, st.version, sizeof st.version);
    secret_sha256_hex(tags->body, tags->len, st.tags_digest);
    /* What an agent would add (memory, CPU, GPU) is left out: unknown, not zero. The memory
     * the loaded models hold is what Ollama says of them. */
    double vram = 0;
    size_t i;
    json_t *m;
    json_array_foreach (st.loaded, i, m)
        vram += json_number_value(json_object_get(m, "size_vram_gb"));
    json_t *ollama = json_pack("{s:b, s:O, s:O, s:s}", "ollama_up", 1, "models_loaded", st.loaded,
                               "models_available", st.available, "tags_digest", st.tags_digest);
    if (st.version[0])
        json_object_set_new(ollama, "version", json_string(st.version));
    json_t *hb =
        json_pack("{s:s, s:f, s:s, s:s, s:o, s:b, s:f}", "node_id", t->id, "timestamp", time_wall(),
                  "agent_version", "none (polled by herd)", "ollama_host", t->url, "ollama", ollama,
                  "polled", 1, "models_vram_gb", round(vram * 100) / 100);
    ollama_state_clear(&st);
    return hb;
}

static void poll_ended(struct poll_target *t)
{
    struct coord *c = t->p->c;
    char err[300] = "";
    json_t *hb = heartbeat_of(t, err, sizeof err);
    struct node *n = NULL;
    int rc = hb ? coord_heartbeat_apply(c, hb, NULL, &n, err, sizeof err) : -1;
    json_decref(hb);
    probes_clear(t);
    double interval = c->settings->heartbeat_interval;
    if (rc == 0) {
        if (t->failures)
            LOG_INFO("the Ollama at %s (node %s) answers again", t->url, t->id);
        t->failures = 0;
        schedule(t, interval);
        return;
    }
    t->failures++;
    double delay = fmin(interval * pow(2, fmin(t->failures - 1, 20)), BACKOFF_MAX_S);
    if (t->failures == 1 || delay >= BACKOFF_MAX_S * 0.99)
        LOG_WARN("herd cannot poll the Ollama at %s (node %s): %s; next try in %.0f s", t->url,
                 t->id, err[0] ? err : "no answer", delay);
    schedule(t, delay);
}

static void on_probe_done(long status, const char *body, size_t len, int rc, const char *err,
                          void *arg)
{
    struct poll_probe *q = arg;
    struct poll_target *t = q->t;
    q->up = NULL;
    if (rc != 0)
        snprintf(q->err, sizeof q->err, "%s: %s", probe_path[q->kind],
                 err ? err : "transfer failed");
    else if (status != 200)
        snprintf(q->err, sizeof q->err, "%s: HTTP %ld", probe_path[q->kind], status);
    else if ((q->body = malloc(len + 1))) {
        memcpy(q->body, body, len);
        q->body[len] = '\0';
        q->len = len;
    }
    if (--t->pending == 0)
        poll_ended(t);
}

static void on_poll_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct poll_target *t = arg;
    struct coord *c = t->p->c;
    double interval = c->settings->heartbeat_interval;
    if (t->taken_by[0]) {
        const struct node *agent = registry_find(&c->registry, t->taken_by);
        if (agent && agent->status != NODE_OFFLINE) {
            schedule(t, interval);
            return;
        }
        LOG_INFO("herd-node %s no longer reports the Ollama at %s: herd polls it again as %s",
                 t->taken_by, t->url, t->id);
        t->taken_by[0] = '\0';
    }
    probes_clear(t);
    t->pending = PROBES;
    for (int k = 0; k < PROBES; k++) {
        struct poll_probe *q = &t->probe[k];
        char url[320];
        snprintf(url, sizeof url, "%s%s", t->url, probe_path[k]);
        struct httpc_opts o = {
            .url = url,
            .connect_timeout_ms = (long)(c->settings->connect_timeout * 1000),
            .total_timeout_ms = PROBE_TIMEOUT_MS,
        };
        q->up = httpc_fetch(c->httpc, &o, PROBE_MAX_BODY, on_probe_done, q);
        if (!q->up) {
            snprintf(q->err, sizeof q->err, "%s: cannot start", probe_path[k]);
            t->pending--;
        }
    }
    if (t->pending == 0)
        poll_ended(t);
}

static void target_free(struct poll_target *t)
{
    probes_clear(t);
    if (t->timer)
        event_free(t->timer);
    free(t);
}

/* A new target for spec (already checked), polling at once; NULL when out of memory. */
static struct poll_target *target_new(struct coord_poll *p, const char *id, const char *url)
{
    struct poll_target *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->p = p;
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->url, sizeof t->url, "%s", url);
    url_key(t->url, t->key, sizeof t->key);
    for (int k = 0; k < PROBES; k++) {
        t->probe[k].t = t;
        t->probe[k].kind = (enum probe_kind)k;
    }
    t->timer = evtimer_new(p->c->base, on_poll_timer, t);
    if (!t->timer) {
        free(t);
        return NULL;
    }
    LOG_INFO("herd polls the Ollama at %s as node %s (no agent)", t->url, t->id);
    schedule(t, 0);
    return t;
}

/* The targets of the settings' list (checked), keeping those that did not change. */
static int apply_list(struct coord_poll *p, char *err, size_t errlen)
{
    const struct cfg_list *list = &p->c->settings->ollama;
    if (poll_spec_check(list, err, errlen) != 0)
        return -1;
    struct poll_target **next = calloc(list->n + 1, sizeof *next);
    if (!next) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    for (size_t i = 0; i < list->n; i++) {
        char id[NODE_ID_MAX], url[256];
        poll_spec_parse(list->items[i], id, sizeof id, url, sizeof url, err, errlen);
        struct poll_target *kept = NULL;
        for (size_t k = 0; k < p->n && !kept; k++)
            if (p->t[k] && strcmp(p->t[k]->id, id) == 0 && strcmp(p->t[k]->url, url) == 0) {
                kept = p->t[k];
                p->t[k] = NULL;
            }
        next[n] = kept ? kept : target_new(p, id, url);
        if (next[n])
            n++;
        else
            LOG_ERROR("out of memory: herd cannot poll the Ollama at %s", url);
    }
    /* The Ollamas no longer listed leave the fleet now. */
    for (size_t k = 0; k < p->n; k++) {
        struct poll_target *gone = p->t[k];
        if (!gone)
            continue;
        LOG_INFO("herd no longer polls the Ollama at %s (node %s)", gone->url, gone->id);
        if (!gone->taken_by[0] && registry_find(&p->c->registry, gone->id)) {
            fwd_node_gone(p->c, gone->id);
            registry_remove(&p->c->registry, gone->id);
        }
        target_free(gone);
    }
    free(p->t);
    p->t = next;
    p->n = n;
    return 0;
}

struct coord_poll *coord_poll_new(struct coord *c, char *err, size_t errlen)
{
    struct coord_poll *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->c = c;
    if (apply_list(p, err, errlen) != 0) {
        char why[400];
        snprintf(why, sizeof why, "--ollama %s", err);
        snprintf(err, errlen, "%s", why);
        coord_poll_free(p);
        return NULL;
    }
    return p;
}

int coord_poll_reload(struct coord *c, char *err, size_t errlen)
{
    return c->poll ? apply_list(c->poll, err, errlen) : 0;
}

void coord_poll_free(struct coord_poll *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (p->t[i])
            target_free(p->t[i]);
    free(p->t);
    free(p);
}

void coord_poll_heard(struct coord *c, const struct node *n)
{
    struct coord_poll *p = c->poll;
    if (!p || !n->url[0])
        return;
    char key[256];
    url_key(n->url, key, sizeof key);
    for (size_t i = 0; i < p->n; i++) {
        struct poll_target *t = p->t[i];
        if (t->taken_by[0] || strcmp(t->key, key) != 0)
            continue;
        snprintf(t->taken_by, sizeof t->taken_by, "%s", n->id);
        probes_clear(t);
        schedule(t, c->settings->heartbeat_interval); /* to see whether the agent is still there */
        LOG_INFO("herd-node %s reports the Ollama at %s that herd polled as %s: it takes the "
                 "node over",
                 n->id, t->url, t->id);
        if (strcmp(n->id, t->id) != 0 && registry_find(&c->registry, t->id)) {
            fwd_node_gone(c, t->id); /* what waited for it goes elsewhere */
            registry_remove(&c->registry, t->id);
        }
    }
}

bool coord_poll_is_polled(const struct coord *c, const char *node_id)
{
    const struct coord_poll *p = c->poll;
    for (size_t i = 0; p && i < p->n; i++)
        if (!p->t[i]->taken_by[0] && strcmp(p->t[i]->id, node_id) == 0)
            return true;
    return false;
}
