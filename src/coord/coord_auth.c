#include "coord/coord_auth.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/fsutil.h"
#include "common/hbuf.h"
#include "common/log.h"
#include "common/node_auth.h"
#include "common/timeutil.h"
#include "coord/access.h"
#include "coord/audit_log.h"
#include "coord/coord.h"
#include "coord/rate_limit.h"

#define KEYS_FILE_MAX (1024 * 1024)

struct coord_auth {
    struct coord *c;
    struct access access;
    struct rate_limit rl;
    struct audit_log *audit;
    struct node_auth_seen *seen;
    struct event *tick;
    struct timespec keys_mtime;
    off_t keys_size;
    bool refusing; /* the gate is answering a refusal (already audited) */
    struct coord_auth_stats stats;
};

/* Builds the key table from the settings and the keys file. 0 or -1 with err. */
static int load_keys(const struct coord_settings *s, struct access *out, struct stat *file_st,
                     char *err, size_t errlen)
{
    struct access a = {0};
    if (s->api_keys && *s->api_keys && access_add_list(&a, s->api_keys, err, errlen) != 0)
        goto fail;
    if (s->admin_key && *s->admin_key && access_add(&a, s->admin_key, true, err, errlen) != 0)
        goto fail;
    if (s->api_keys_file && *s->api_keys_file) {
        struct hbuf text;
        hbuf_init(&text, KEYS_FILE_MAX);
        int rc = fsutil_read_file(s->api_keys_file, &text);
        if (rc) {
            snprintf(err, errlen, "cannot read the keys file %s: %s", s->api_keys_file,
                     rc == -EMSGSIZE ? "larger than 1 MiB" : strerror(-rc));
            hbuf_free(&text);
            goto fail;
        }
        rc = access_add_file_text(&a, text.data ? text.data : "", s->api_keys_file, err, errlen);
        hbuf_free(&text);
        if (rc)
            goto fail;
        if (file_st && stat(s->api_keys_file, file_st) != 0)
            memset(file_st, 0, sizeof *file_st);
    }
    *out = a;
    return 0;
fail:
    access_free(&a);
    return -1;
}

/* The keys file changed: take its new keys (or keep the old ones if it is wrong now). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord_auth *a = arg;
    rate_limit_sweep(&a->rl, time_mono());
    const struct coord_settings *s = a->c->settings;
    if (!s->api_keys_file || !*s->api_keys_file)
        return;
    struct stat st;
    if (stat(s->api_keys_file, &st) != 0)
        return;
    if (st.st_mtim.tv_sec == a->keys_mtime.tv_sec && st.st_mtim.tv_nsec == a->keys_mtime.tv_nsec &&
        st.st_size == a->keys_size)
        return;
    a->keys_mtime = st.st_mtim;
    a->keys_size = st.st_size;
    struct access fresh;
    char err[400];
    if (load_keys(s, &fresh, NULL, err, sizeof err) != 0) {
        LOG_ERROR("keys file changed but is not valid; the previous keys stay: %s", err);
        return;
    }
    access_free(&a->access);
    a->access = fresh;
    LOG_INFO("keys file %s read again: %zu client keys", s->api_keys_file, fresh.n_client);
}

static json_t *request_detail(struct httpd_req *r)
{
    size_t len = 0;
    const char *body = httpd_req_body(r, &len);
    if (len == 0 || len > 2048)
        return NULL;
    json_t *v = json_loadb(body, len, 0, NULL);
    if (v && !json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

/* A refused authentication: audited and answered (the observer is told it was audited
 * already). A client's refusal is in its API's shape with a Bearer challenge; a node's is
 * Ollama's shape. */
static void refuse(struct coord_auth *a, struct httpd_req *r, const char *event, const char *who,
                   int status, const char *why, bool client)
{
    audit_log_write(a->audit, json_pack("{s:s, s:s?, s:s, s:s, s:s, s:s, s:i, s:s}", "event", event,
                                        "who", who, "from", httpd_req_peer(r), "method",
                                        httpd_req_method_name(r), "path", httpd_req_path(r),
                                        "outcome", "refused", "status", status, "reason", why));
    if (client && status == 401)
        httpd_add_header(r, "WWW-Authenticate", "Bearer realm=\"herd\"");
    a->refusing = true;
    if (client)
        httpd_reply_error(r, status, why);
    else
        httpd_reply_error(r, status, why);
    a->refusing = false;
}

static bool gate(struct httpd_req *r, void *arg)
{
    struct coord_auth *a = arg;
    enum httpd_method m = httpd_req_method(r);
    const char *path = httpd_req_path(r);
    enum access_need need = access_need_for(path, m == HTTPD_GET || m == HTTPD_HEAD);
    const struct access_key *who = NULL;
    enum access_verdict v =
        access_check(&a->access, need, httpd_req_header(r, "Authorization"), &who);
    if (v != ACCESS_ALLOW) {
        int status = v == ACCESS_NO_KEY || v == ACCESS_UNKNOWN_KEY ? 401 : 403;
        const char *why = access_verdict_text(v);
        a->stats.refused++;
        LOG_WARN("refused %s %s from %s%s%s: %s", httpd_req_method_name(r), path, httpd_req_peer(r),
                 who ? " with key " : "", who ? who->name : "", why);
        refuse(a, r, "auth_refused", who ? who->name : NULL, status, why, true);
        return false;
    }
    if (who)
        httpd_req_set_principal(r, who->name);
    if (need == ACCESS_CLIENT || need == ACCESS_ADMIN) {
        char client[96];
        if (who)
            snprintf(client, sizeof client, "key:%s", who->name);
        else
            snprintf(client, sizeof client, "addr:%s", httpd_req_peer(r));
        double retry = 0;
        if (!rate_limit_take(&a->rl, client, time_mono(), &retry)) {
            a->stats.rate_limited++;
            char msg[200], after[24];
            snprintf(msg, sizeof msg,
                     "rate limit: %s may send %g requests per second (bursts of %lld); retry in "
                     "%.1f s",
                     who ? who->name : httpd_req_peer(r), a->rl.rate,
                     (long long)a->c->settings->rate_limit_burst, retry);
            snprintf(after, sizeof after, "%d", (int)ceil(retry));
            httpd_add_header(r, "Retry-After", after);
            LOG_DEBUG("%s %s from %s: %s", httpd_req_method_name(r), path, httpd_req_peer(r), msg);
            httpd_reply_error(r, 429, msg);
            return false;
        }
    }
    return true;
}

/* Every finished request: actions that change the fleet go to the audit log with their
 * outcome. */
static void on_done(struct httpd_req *r, int status, void *arg)
{
    struct coord_auth *a = arg;
    if (a->refusing)
        return;
    enum httpd_method m = httpd_req_method(r);
    if (access_need_for(httpd_req_path(r), m == HTTPD_GET || m == HTTPD_HEAD) != ACCESS_ADMIN)
        return;
    const char *outcome = status == 0 ? "client_left" : status < 400 ? "ok" : "failed";
    if (status == 429)
        outcome = "refused";
    audit_log_write(a->audit,
                    json_pack("{s:s, s:s?, s:s, s:s, s:s, s:o*, s:s, s:i}", "event", "admin_action",
                              "who", httpd_req_principal(r), "from", httpd_req_peer(r), "method",
                              httpd_req_method_name(r), "path", httpd_req_path(r), "detail",
                              request_detail(r), "outcome", outcome, "status", status));
}

static bool loopback(const char *host)
{
    return host && (strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
                    strcmp(host, "localhost") == 0);
}

struct coord_auth *coord_auth_new(struct coord *c, char *err, size_t errlen)
{
    const struct coord_settings *s = c->settings;
    struct coord_auth *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->c = c;
    rate_limit_init(&a->rl, s->rate_limit, (double)s->rate_limit_burst);
    struct stat st = {0};
    if (load_keys(s, &a->access, &st, err, errlen) != 0)
        goto fail;
    a->keys_mtime = st.st_mtim;
    a->keys_size = st.st_size;
    if (s->node_secret && *s->node_secret) {
        if (strlen(s->node_secret) < 16) {
            snprintf(err, errlen, "the node secret is too short (at least 16 characters)");
            goto fail;
        }
        a->seen = calloc(1, sizeof *a->seen);
        if (!a->seen) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    a->audit = audit_log_open(s->data_dir, err, errlen);
    if (!a->audit)
        goto fail;
    a->tick = event_new(c->base, -1, EV_PERSIST, on_tick, a);
    if (!a->tick) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct timeval tv = {5, 0};
    event_add(a->tick, &tv);
    httpd_set_gate(c->httpd, gate, a);
    httpd_set_done(c->httpd, on_done, a);

    bool exposed = !loopback(s->host);
    if (a->access.n == 0 && exposed)
        LOG_WARN("no API keys: anyone who can reach port %lld can use this fleet and change it "
                 "(set FLEET_API_KEYS and FLEET_ADMIN_KEY; see docs/security.md)",
                 (long long)s->port);
    else if (!a->access.have_admin && a->access.n_client > 0)
        LOG_INFO("no admin key: pulls, deletes, settings and benchmarks are refused to everyone");
    if (!a->seen && exposed)
        LOG_WARN("no node secret: any host on the network can join the fleet as a node and "
                 "receive prompts (set FLEET_NODE_SECRET on herd and every herd-node)");
    return a;
fail:
    coord_auth_free(a);
    return NULL;
}

void coord_auth_free(struct coord_auth *a)
{
    if (!a)
        return;
    if (a->c && a->c->httpd) {
        httpd_set_gate(a->c->httpd, NULL, NULL);
        httpd_set_done(a->c->httpd, NULL, NULL);
    }
    if (a->tick)
        event_free(a->tick);
    access_free(&a->access);
    rate_limit_free(&a->rl);
    audit_log_close(a->audit);
    free(a->seen);
    free(a);
}

int coord_auth_heartbeat(struct coord_auth *a, struct httpd_req *r, const json_t *body,
                         int64_t *ts_ms)
{
    *ts_ms = 0;
    const struct coord_settings *s = a->c->settings;
    if (!a->seen)
        return 0;
    size_t len = 0;
    const char *raw = httpd_req_body(r, &len);
    int64_t now_ms = (int64_t)(time_wall() * 1000);
    int64_t ts = 0;
    enum node_auth_result res =
        node_auth_verify(s->node_secret, httpd_req_header(r, NODE_AUTH_TS_HEADER),
                         httpd_req_header(r, NODE_AUTH_SIG_HEADER), raw, len, now_ms,
                         (int64_t)(s->heartbeat_max_skew * 1000), a->seen, &ts);
    const char *claim = json_string_value(json_object_get(body, "node_id"));
    if (res == NODE_AUTH_OK && claim) {
        /* A node's heartbeats only move forward: an older one is a replay, even one that the
         * bounded memory of signatures has forgotten. */
        const struct node *n = registry_find(&a->c->registry, claim);
        if (n && n->last_signed_ms >= ts)
            res = NODE_AUTH_REPLAY;
    }
    if (res == NODE_AUTH_OK) {
        *ts_ms = ts;
        return 0;
    }
    const char *why = node_auth_result_text(res);
    a->stats.heartbeats_refused++;
    LOG_WARN("heartbeat from %s (claiming node %s) refused: %s", httpd_req_peer(r),
             claim ? claim : "?", why);
    refuse(a, r, "heartbeat_refused", claim, 401, why, false);
    return -1;
}

void coord_auth_get_stats(const struct coord_auth *a, struct coord_auth_stats *out)
{
    if (a)
        *out = a->stats;
    else
        memset(out, 0, sizeof *out);
}
