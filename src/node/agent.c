/* agent: the heartbeat cycle of herd-node. */
#include "node/agent.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "net/httpc.h"
#include "net/netaddr.h"
#include "node/capacity.h"
#include "node/chip_table.h"
#include "node/heartbeat.h"
#include "common/node_auth.h"
#include "common/ollama_state.h"
#include "common/secret.h"
#include "node/sysinfo.h"

#define GIB (1024.0 * 1024.0 * 1024.0)
#define PROBE_BODY_MAX (8u << 20) /* a store with thousands of models stays far below */
#define REPLY_BODY_MAX (64u << 10)
#define DRAIN_TIMEOUT_MS 3000
#define RETRY_MAX_S 2.0 /* longest wait between heartbeats while the coordinator is away */
#define SAVE_EVERY 60   /* observations, about five minutes at the default interval */

enum probe_kind { PROBE_PS, PROBE_TAGS, PROBE_VERSION, PROBE_SIM, PROBE_N };
static const char *const probe_path[PROBE_N] = {"/api/ps", "/api/tags", "/api/version",
                                                "/_sim/state"};

struct probe {
    struct agent *a;
    enum probe_kind kind;
    struct httpc_req *req;
    bool ok;
    long status;
    char err[160];
};

/* What a herd-sim node says of the machine it simulates. */
struct sim_machine_info {
    bool ok;
    double memory_gb, memory_used_gb, vram_gb, bandwidth_gbps;
    int num_parallel;
    char description[128];
};

struct agent {
    struct event_base *base;
    const struct node_settings *s;
    struct httpc *http;
    struct sysinfo *sys;
    struct event *timer;
    char ollama_base[512]; /* without a trailing slash */
    char reported_host[512];
    char lan_ip[64];
    char router[512];

    /* the cycle in progress */
    bool in_cycle;
    double cycle_started; /* monotonic */
    int pending;
    struct probe probes[PROBE_N];
    struct ollama_state ost;
    struct sim_machine_info sim;
    struct httpc_req *beat;

    /* what was reported before, to log changes once */
    int ollama_was_up; /* -1 unknown */
    int router_was_ok; /* -1 unknown */
    char last_reply_error[200];
    char last_capacity_mode[24];
    unsigned failures, failures_total;
    double backoff;

    /* capacity */
    struct capacity cap;
    struct cap_override override;
    bool override_seen; /* the file's identity below is valid */
    ino_t override_ino;
    struct timespec override_mtim;
    char state_path[1024];
    char override_path[1024];

    /* draining */
    bool draining;
    struct httpc_req *drain_req;
    void (*drain_done)(void *);
    void *drain_arg;
};

static void schedule(struct agent *a, double delay_s);
static void cycle_finish(struct agent *a);

/* ---- addresses ---- */

/* The Ollama URL as the coordinator should see it: a loopback host becomes the LAN address. */
static void reported_ollama_host(const char *url, const char *lan_ip, char *out, size_t outlen)
{
    static const char *const loop[] = {"localhost", "127.0.0.1", "[::1]", "0.0.0.0"};
    const char *p = strstr(url, "://");
    const char *scheme_end = p ? p + 3 : url;
    for (size_t i = 0; i < sizeof loop / sizeof *loop; i++) {
        size_t n = strlen(loop[i]);
        if (strncmp(scheme_end, loop[i], n) == 0 &&
            (scheme_end[n] == ':' || scheme_end[n] == '/' || scheme_end[n] == '\0')) {
            snprintf(out, outlen, "%.*s%s%s", (int)(scheme_end - url), url, lan_ip, scheme_end + n);
            return;
        }
    }
    snprintf(out, outlen, "%s", url);
}

/* ---- capacity state ---- */

static void load_capacity(struct agent *a)
{
    json_error_t je;
    json_t *o = json_load_file(a->state_path, 0, &je);
    if (!o) {
        if (access(a->state_path, F_OK) == 0)
            LOG_WARN("capacity model %s is unreadable (%s); learning starts afresh", a->state_path,
                     je.text);
        return;
    }
    if (capacity_from_json(&a->cap, o) != 0)
        LOG_WARN("capacity model %s is not in the expected form; learning starts afresh",
                 a->state_path);
    else
        LOG_INFO("capacity model loaded from %s", a->state_path);
    json_decref(o);
}

static void save_capacity(struct agent *a)
{
    if (!a->s->learn_capacity || a->cap.first_observation <= 0)
        return;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", a->state_path);
    json_t *o = capacity_to_json(&a->cap);
    json_object_set_new(o, "saved_at", json_real(time_wall()));
    if (json_dump_file(o, tmp, JSON_COMPACT) != 0 || rename(tmp, a->state_path) != 0)
        LOG_WARN("cannot save the capacity model to %s: %s", a->state_path, strerror(errno));
    json_decref(o);
}

/* Re-reads the override file when it changed (the capacity command writes it). */
static void refresh_override(struct agent *a)
{
    struct stat st;
    if (stat(a->override_path, &st) != 0) {
        if (a->override.mode != CAP_OVERRIDE_NONE)
            LOG_INFO("capacity override removed");
        a->override = (struct cap_override){CAP_OVERRIDE_NONE, 0};
        a->override_seen = false;
        return;
    }
    /* The command replaces the file (a new inode); two changes within a second differ in
     * inode or in nanoseconds. */
    if (a->override_seen && st.st_ino == a->override_ino &&
        st.st_mtim.tv_sec == a->override_mtim.tv_sec &&
        st.st_mtim.tv_nsec == a->override_mtim.tv_nsec)
        return;
    a->override_seen = true;
    a->override_ino = st.st_ino;
    a->override_mtim = st.st_mtim;
    json_error_t je;
    json_t *o = json_load_file(a->override_path, 0, &je);
    struct cap_override ov;
    if (!o || cap_override_from_json(&ov, o) != 0) {
        LOG_WARN("capacity override %s is unreadable; ignored", a->override_path);
        ov = (struct cap_override){CAP_OVERRIDE_NONE, 0};
    } else if (ov.mode != a->override.mode || ov.until != a->override.until) {
        LOG_INFO("capacity override: %s", ov.mode == CAP_OVERRIDE_FULL     ? "full"
                                          : ov.mode == CAP_OVERRIDE_PAUSED ? "paused"
                                                                           : "auto");
    }
    json_decref(o);
    a->override = ov;
}

/* Feeds the learner and decides; returns whether *d holds a decision to report. */
static bool capacity_step(struct agent *a, const struct sys_sample *sys, struct cap_decision *d)
{
    refresh_override(a);
    double now = time_wall();
    bool override_on = a->override.mode != CAP_OVERRIDE_NONE &&
                       (a->override.until <= 0 || now < a->override.until);
    if (!a->s->learn_capacity && !override_on)
        return false;
    if (a->s->learn_capacity && sys->cpu_pct >= 0 && sys->has_memory && sys->mem_total_gb > 0) {
        /* The learner models the owner's habits: Ollama's own work is not the owner's. */
        double own = sys->cpu_pct - (sys->ollama_cpu_pct > 0 ? sys->ollama_cpu_pct : 0);
        capacity_observe(&a->cap, now, own, 100.0 * sys->mem_used_gb / sys->mem_total_gb);
        if (a->cap.observations % SAVE_EVERY == 0)
            save_capacity(a);
    }
    *d = capacity_decide(&a->cap, now, sys->has_memory ? sys->mem_total_gb : 0, &a->override);
    if (strcmp(d->mode, a->last_capacity_mode) != 0) {
        LOG_INFO("capacity: %s (%s), ceiling %.1f GB, availability %.2f", d->mode, d->reason,
                 d->ceiling_gb, d->score);
        snprintf(a->last_capacity_mode, sizeof a->last_capacity_mode, "%s", d->mode);
    }
    return true;
}

/* ---- the cycle ---- */

static void parse_sim_machine(struct agent *a, const char *body, size_t len)
{
    char err[128];
    json_t *root = jsonx_parse_body(body, len, err, sizeof err);
    const json_t *m = json_object_get(root, "machine");
    struct sim_machine_info *s = &a->sim;
    *s = (struct sim_machine_info){0};
    if (json_is_object(m) && jsonx_num(m, "memory_gb", &s->memory_gb) == 0 &&
        jsonx_num(m, "memory_used_gb", &s->memory_used_gb) == 0) {
        int64_t par = 0;
        jsonx_num(m, "vram_gb", &s->vram_gb);
        jsonx_num(m, "bandwidth_gbps", &s->bandwidth_gbps);
        jsonx_int(m, "num_parallel", &par);
        s->num_parallel = par > 0 && par <= 1024 ? (int)par : 0;
        snprintf(s->description, sizeof s->description, "%s",
                 jsonx_str_or(m, "description", "herd-sim"));
        s->ok = true;
    }
    json_decref(root);
}

static void on_probe(long status, const char *body, size_t len, int rc, const char *err, void *arg)
{
    struct probe *p = arg;
    struct agent *a = p->a;
    p->req = NULL;
    p->status = status;
    p->ok = rc == 0 && status == 200;
    char perr[160] = "";
    if (rc)
        snprintf(p->err, sizeof p->err, "%s", err ? err : strerror(-rc));
    else if (status != 200)
        snprintf(p->err, sizeof p->err, "HTTP %ld", status);
    if (p->ok) {
        switch (p->kind) {
        case PROBE_PS:
            json_decref(a->ost.loaded);
            a->ost.loaded = NULL;
            if (ollama_parse_ps(body, len, &a->ost.loaded, perr, sizeof perr) != 0)
                p->ok = false;
            break;
        case PROBE_TAGS:
            json_decref(a->ost.available);
            a->ost.available = NULL;
            if (ollama_parse_tags(body, len, &a->ost.available, perr, sizeof perr) != 0)
                p->ok = false;
            if (!p->ok || secret_sha256_hex(body, len, a->ost.tags_digest) != 0)
                a->ost.tags_digest[0] = '\0';
            break;
        case PROBE_VERSION:
            if (ollama_parse_version(body, len, a->ost.version, sizeof a->ost.version) != 0)
                p->ok = false;
            break;
        case PROBE_SIM:
            parse_sim_machine(a, body, len);
            break;
        default:
            break;
        }
        if (!p->ok)
            snprintf(p->err, sizeof p->err, "unexpected answer: %s", perr);
    }
    if (--a->pending == 0)
        cycle_finish(a);
}

/* Applies a herd-sim node's simulated machine over the real one (memory, GPU, speed). */
static void apply_sim_machine(const struct sim_machine_info *m, struct sys_sample *sys,
                              double *bandwidth, int *num_parallel)
{
    double to_gib = 1e9 / GIB; /* the simulator counts decimal gigabytes */
    sys->has_memory = true;
    sys->mem_total_gb = m->memory_gb * to_gib;
    sys->mem_used_gb = fmin(m->memory_used_gb, m->memory_gb) * to_gib;
    sys->mem_available_gb = sys->mem_total_gb - sys->mem_used_gb;
    sys->pressure = MEM_PRESSURE_NORMAL;
    sys->pressure_source = "herd-sim";
    sys->n_gpus = 0;
    if (m->vram_gb > 0) {
        struct sys_gpu *g = &sys->gpus[sys->n_gpus++];
        memset(g, 0, sizeof *g);
        snprintf(g->name, sizeof g->name, "simulated GPU");
        g->vram_total_gb = m->vram_gb * to_gib;
        g->vram_used_gb = fmin(m->memory_used_gb, m->vram_gb) * to_gib;
        g->util_pct = -1;
        g->temp_c = -273;
    }
    snprintf(sys->chip, sizeof sys->chip, "%s", m->description);
    if (m->bandwidth_gbps > 0)
        *bandwidth = m->bandwidth_gbps;
    if (m->num_parallel > 0)
        *num_parallel = m->num_parallel;
}

static void log_ollama_state(struct agent *a)
{
    int up = a->ost.up ? 1 : 0;
    if (up == a->ollama_was_up)
        return;
    if (up)
        LOG_INFO("Ollama at %s is up (version %s, %zu models, %zu loaded)", a->ollama_base,
                 a->ost.version[0] ? a->ost.version : "unknown",
                 a->ost.available ? json_array_size(a->ost.available) : 0,
                 a->ost.loaded ? json_array_size(a->ost.loaded) : 0);
    else
        LOG_WARN("Ollama at %s does not answer (%s); reporting no models until it does",
                 a->ollama_base, a->probes[PROBE_PS].err);
    a->ollama_was_up = up;
}

static void on_beat(long status, const char *body, size_t len, int rc, const char *err, void *arg)
{
    struct agent *a = arg;
    a->beat = NULL;
    a->in_cycle = false;
    char why[200] = "";
    if (rc)
        snprintf(why, sizeof why, "%s", err ? err : strerror(-rc));
    else if (status != 200)
        snprintf(why, sizeof why, "HTTP %ld: %.*s", status, (int)(len > 150 ? 150 : len),
                 body ? body : "");
    if (!why[0]) {
        if (a->router_was_ok != 1)
            LOG_INFO("heartbeats reach the coordinator at %s%s", a->router,
                     a->failures ? " again" : "");
        a->router_was_ok = 1;
        a->failures = 0;
        a->backoff = 0;
        a->last_reply_error[0] = '\0';
        double next = a->s->heartbeat_interval - (time_mono() - a->cycle_started);
        schedule(a, next > 0 ? next : 0);
        return;
    }
    a->failures++;
    a->failures_total++;
    /* Once per outage; curl's messages carry timings, so a changed text is no news. */
    if (a->router_was_ok != 0)
        LOG_WARN("heartbeat to %s failed: %s; retrying", a->router, why);
    else if (strcmp(why, a->last_reply_error) != 0)
        LOG_DEBUG("heartbeat to %s failed: %s", a->router, why);
    snprintf(a->last_reply_error, sizeof a->last_reply_error, "%s", why);
    a->router_was_ok = 0;
    /* Sooner than the interval, so a coordinator that restarts sees the node within two
     * seconds (a refused connection costs nothing); never later than the interval. */
    a->backoff = a->backoff <= 0 ? 0.25 : a->backoff * 2;
    a->backoff = fmin(a->backoff, fmin(RETRY_MAX_S, a->s->heartbeat_interval));
    schedule(a, a->backoff);
}

/* POSTs a heartbeat document (taken over) to the coordinator; NULL when it cannot start. */
static struct httpc_req *post_heartbeat(struct agent *a, json_t *hb, long connect_ms, long total_ms,
                                        httpc_fetch_cb cb)
{
    size_t len = 0;
    char *body = jsonx_dump(hb, &len);
    json_decref(hb);
    char url[600];
    snprintf(url, sizeof url, "%s/heartbeat", a->router);
    char ts_line[64] = "", sig_line[NODE_AUTH_SIG_LEN + 32] = "";
    const char *headers[] = {"Content-Type: application/json", NULL, NULL, NULL};
    if (body && a->s->node_secret && *a->s->node_secret) {
        int64_t ts = (int64_t)(time_wall() * 1000);
        char sig[NODE_AUTH_SIG_LEN];
        if (node_auth_sign(a->s->node_secret, ts, body, len, sig) != 0) {
            LOG_ERROR("cannot sign the heartbeat");
            free(body);
            return NULL;
        }
        snprintf(ts_line, sizeof ts_line, NODE_AUTH_TS_HEADER ": %lld", (long long)ts);
        snprintf(sig_line, sizeof sig_line, NODE_AUTH_SIG_HEADER ": %s", sig);
        headers[1] = ts_line;
        headers[2] = sig_line;
    }
    struct httpc_opts o = {.method = "POST",
                           .url = url,
                           .headers = headers,
                           .body = body,
                           .body_len = len,
                           .connect_timeout_ms = connect_ms,
                           .total_timeout_ms = total_ms};
    struct httpc_req *req = body ? httpc_fetch(a->http, &o, REPLY_BODY_MAX, cb, a) : NULL;
    free(body);
    return req;
}

static void cycle_finish(struct agent *a)
{
    a->ost.up = a->probes[PROBE_PS].ok;
    log_ollama_state(a);

    struct sys_sample sys;
    sysinfo_collect(a->sys, &sys);
    double bandwidth = chip_bandwidth_gbps(sys.chip);
    int parallel = (int)a->s->num_parallel;
    if (parallel <= 0)
        parallel = sys.ollama_num_parallel;
    if (parallel <= 0) {
        const char *env = getenv("OLLAMA_NUM_PARALLEL");
        char *end;
        long n = env ? strtol(env, &end, 10) : 0;
        parallel = env && *end == '\0' && n > 0 && n <= 1024 ? (int)n : 0;
    }
    if (a->s->metrics == NODE_METRICS_HERD_SIM && a->sim.ok)
        apply_sim_machine(&a->sim, &sys, &bandwidth, &parallel);

    struct cap_decision cap;
    bool has_cap = capacity_step(a, &sys, &cap);
    if (!a->router[0]) {
        a->in_cycle = false;
        schedule(a, a->s->heartbeat_interval);
        return;
    }
    struct hb_input in = {
        .node_id = a->s->node_id,
        .agent_version = HERD_VERSION,
        .lan_ip = a->lan_ip,
        .ollama_host = a->reported_host,
        .timestamp = time_wall(),
        .sys = &sys,
        .ollama = &a->ost,
        .num_parallel = parallel,
        .bandwidth_gbps = bandwidth,
        .capacity = has_cap ? &cap : NULL,
        .connection_failures = a->failures,
        .connection_failures_total = a->failures_total,
    };
    a->beat = post_heartbeat(a, heartbeat_build(&in), 2000, 5000, on_beat);
    if (!a->beat)
        on_beat(0, NULL, 0, -ENOMEM, "cannot start the request", a);
}

static void cycle_start(struct agent *a)
{
    if (a->in_cycle || a->draining)
        return;
    a->in_cycle = true;
    a->cycle_started = time_mono();
    /* Each probe must end well within the interval (an answer later than that is stale). */
    long timeout_ms = (long)(fmin(3.0, fmax(1.0, a->s->heartbeat_interval)) * 1000);
    int n = a->s->metrics == NODE_METRICS_HERD_SIM ? PROBE_N : PROBE_SIM;
    a->pending = n;
    for (int k = 0; k < n; k++) {
        struct probe *p = &a->probes[k];
        *p = (struct probe){.a = a, .kind = (enum probe_kind)k};
        char url[600];
        snprintf(url, sizeof url, "%s%s", a->ollama_base, probe_path[k]);
        struct httpc_opts o = {
            .url = url, .connect_timeout_ms = timeout_ms, .total_timeout_ms = timeout_ms};
        p->req = httpc_fetch(a->http, &o, PROBE_BODY_MAX, on_probe, p);
        if (!p->req) {
            snprintf(p->err, sizeof p->err, "cannot start the request");
            a->pending--;
        }
    }
    if (a->pending == 0)
        cycle_finish(a);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cycle_start(arg);
}

static void schedule(struct agent *a, double delay_s)
{
    if (a->draining)
        return;
    struct timeval tv = time_tv(delay_s);
    evtimer_add(a->timer, &tv);
}

struct agent *agent_new(struct event_base *base, const struct node_settings *s, char *err,
                        size_t errlen)
{
    struct agent *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->base = base;
    a->s = s;
    a->ollama_was_up = -1;
    a->router_was_ok = -1;
    snprintf(a->ollama_base, sizeof a->ollama_base, "%s", s->ollama_host);
    size_t n = strlen(a->ollama_base);
    while (n && a->ollama_base[n - 1] == '/')
        a->ollama_base[--n] = '\0';
    if (strncmp(a->ollama_base, "http://", 7) != 0 && strncmp(a->ollama_base, "https://", 8) != 0) {
        snprintf(err, errlen, "--ollama-host must be an http:// or https:// URL, not '%s'",
                 s->ollama_host);
        free(a);
        return NULL;
    }
    if (s->lan_ip && *s->lan_ip)
        snprintf(a->lan_ip, sizeof a->lan_ip, "%s", s->lan_ip);
    else
        netaddr_lan_ipv4(a->lan_ip, sizeof a->lan_ip);
    reported_ollama_host(a->ollama_base, a->lan_ip, a->reported_host, sizeof a->reported_host);
    snprintf(a->state_path, sizeof a->state_path, "%s/capacity-learner-%s.json", s->data_dir,
             s->node_id);
    snprintf(a->override_path, sizeof a->override_path, "%s/capacity-override-%s.json", s->data_dir,
             s->node_id);
    capacity_init(&a->cap);
    if (s->learn_capacity)
        load_capacity(a);
    struct sysinfo_opts so = {.models_dir = s->models_dir, .nvml_library = s->nvml_library};
    a->http = httpc_new(base);
    if (a->http)
        httpc_set_ca_file(a->http, s->tls_ca);
    a->sys = sysinfo_new(&so);
    a->timer = evtimer_new(base, on_timer, a);
    if (!a->http || !a->sys || !a->timer) {
        snprintf(err, errlen, "out of memory");
        agent_free(a);
        return NULL;
    }
    if (sysinfo_has_nvml(a->sys))
        LOG_INFO("NVIDIA GPUs reported through NVML");
    return a;
}

void agent_start(struct agent *a)
{
    schedule(a, 0);
}

void agent_set_router(struct agent *a, const char *url, const char *how)
{
    if (!url || !*url) {
        a->router[0] = '\0';
        return;
    }
    char clean[512];
    snprintf(clean, sizeof clean, "%s", url);
    size_t n = strlen(clean);
    while (n && clean[n - 1] == '/')
        clean[--n] = '\0';
    if (strcmp(clean, a->router) == 0)
        return;
    LOG_INFO("coordinator: %s (%s)", clean, how);
    snprintf(a->router, sizeof a->router, "%s", clean);
    a->router_was_ok = -1;
    a->backoff = 0;
    if (!a->in_cycle && !a->draining) {
        evtimer_del(a->timer);
        schedule(a, 0);
    }
}

const char *agent_router(const struct agent *a)
{
    return a->router[0] ? a->router : NULL;
}

unsigned agent_failures(const struct agent *a)
{
    return a->failures;
}

static void cancel_cycle(struct agent *a)
{
    for (int k = 0; k < PROBE_N; k++) {
        if (a->probes[k].req)
            httpc_cancel(a->probes[k].req);
        a->probes[k].req = NULL;
    }
    if (a->beat)
        httpc_cancel(a->beat);
    a->beat = NULL;
    a->in_cycle = false;
}

static void on_drain_beat(long status, const char *body, size_t len, int rc, const char *err,
                          void *arg)
{
    (void)body;
    (void)len;
    struct agent *a = arg;
    a->drain_req = NULL;
    if (rc || status != 200)
        LOG_WARN("the draining heartbeat did not reach %s: %s", a->router,
                 rc ? (err ? err : strerror(-rc)) : "unexpected status");
    else
        LOG_INFO("the coordinator at %s knows this node is leaving", a->router);
    if (a->drain_done)
        a->drain_done(a->drain_arg);
}

void agent_drain(struct agent *a, void (*done)(void *arg), void *arg)
{
    if (a->draining)
        return;
    a->draining = true;
    a->drain_done = done;
    a->drain_arg = arg;
    evtimer_del(a->timer);
    cancel_cycle(a);
    save_capacity(a);
    if (!a->router[0]) {
        if (done)
            done(arg);
        return;
    }
    a->drain_req = post_heartbeat(a, heartbeat_draining(a->s->node_id, time_wall()),
                                  DRAIN_TIMEOUT_MS, DRAIN_TIMEOUT_MS, on_drain_beat);
    if (!a->drain_req)
        on_drain_beat(0, NULL, 0, -ENOMEM, "cannot start the request", a);
}

void agent_free(struct agent *a)
{
    if (!a)
        return;
    cancel_cycle(a);
    if (a->drain_req)
        httpc_cancel(a->drain_req);
    if (a->timer)
        event_free(a->timer);
    httpc_free(a->http);
    sysinfo_free(a->sys);
    ollama_state_clear(&a->ost);
    free(a);
}
