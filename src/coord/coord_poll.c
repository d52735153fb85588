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
    struct poll_target *t;
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

/* The host of a URL, as a node name ("mac-studio.local", "192.168.1.20"). */
static void url_host(const char *url, char *out, size_t outlen)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    if (*h == '[') {
        const char *end = strchr(h, ']');
        snprintf(out, outlen, "%.*s", end ? (int)(end - h - 1) : 0, h + 1);
        return;
    }
    size_t len = strcspn(h, ":/");
    snprintf(out, outlen, "%.*s", (int)len, h);
}

static bool valid_name(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == '/' || *p == '=')
            return false;
    return true;
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

struct coord_poll *coord_poll_new(struct coord *c, char *err, size_t errlen)
{
    const struct cfg_list *list = &c->settings->ollama;
    struct coord_poll *p = calloc(1, sizeof *p);
    if (!p || (list->n && !(p->t = calloc(list->n, sizeof *p->t)))) {
        free(p);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    p->c = c;
    for (size_t i = 0; i < list->n; i++) {
        const char *spec = list->items[i];
        const char *eq = strchr(spec, '=');
        const char *url = eq && eq < strstr(spec, "://") ? eq + 1 : spec;
        struct poll_target *t = &p->t[p->n];
        if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
            snprintf(err, errlen, "--ollama %s: the URL must start with http:// or https://", spec);
            coord_poll_free(p);
            return NULL;
        }
        snprintf(t->url, sizeof t->url, "%s", url);
        size_t len = strlen(t->url);
        while (len && t->url[len - 1] == '/')
            t->url[--len] = '\0';
        if (url != spec)
            snprintf(t->id, sizeof t->id, "%.*s", (int)(eq - spec), spec);
        else
            url_host(t->url, t->id, sizeof t->id);
        if (!valid_name(t->id)) {
            snprintf(err, errlen, "--ollama %s: \"%s\" cannot name a node", spec, t->id);
            coord_poll_free(p);
            return NULL;
        }
        for (size_t k = 0; k < p->n; k++)
            if (strcmp(p->t[k].id, t->id) == 0) {
                snprintf(err, errlen, "--ollama %s: node %s is given twice", spec, t->id);
                coord_poll_free(p);
                return NULL;
            }
        url_key(t->url, t->key, sizeof t->key);
        t->p = p;
        for (int k = 0; k < PROBES; k++) {
            t->probe[k].t = t;
            t->probe[k].kind = (enum probe_kind)k;
        }
        t->timer = evtimer_new(c->base, on_poll_timer, t);
        if (!t->timer) {
            snprintf(err, errlen, "out of memory");
            coord_poll_free(p);
            return NULL;
        }
        p->n++;
        LOG_INFO("herd polls the Ollama at %s as node %s (no agent)", t->url, t->id);
        schedule(t, 0);
    }
    return p;
}

void coord_poll_free(struct coord_poll *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        probes_clear(&p->t[i]);
        if (p->t[i].timer)
            event_free(p->t[i].timer);
    }
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
        struct poll_target *t = &p->t[i];
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
        if (!p->t[i].taken_by[0] && strcmp(p->t[i].id, node_id) == 0)
            return true;
    return false;
}
