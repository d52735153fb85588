#include "coord/registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonx.h"
#include "common/log.h"
#include "common/secret.h"
#include "coord/model_class.h"

#define WARM_KEEP 64 /* unloaded models remembered per node */

void registry_init(struct registry *r, double degraded_after, double offline_after)
{
    memset(r, 0, sizeof *r);
    r->degraded_after = degraded_after;
    r->offline_after = offline_after;
}

void registry_free(struct registry *r)
{
    for (size_t i = 0; i < r->n; i++)
        node_free(r->nodes[i]);
    free(r->nodes);
    r->nodes = NULL;
    r->n = 0;
}

struct node *registry_find(const struct registry *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->nodes[i]->id, id) == 0)
            return r->nodes[i];
    return NULL;
}

/* ---- parsing ---- */

struct parsed {
    char id[NODE_ID_MAX];
    bool draining;
    bool has_ollama, ollama_up, has_memory, has_cpu;
    double cpu_pct;
    int cores;
    double mem_total, mem_used, mem_avail;
    enum node_pressure pressure;
    double bandwidth;
    char chip[128];
    char version[32];
    int num_parallel;
    struct node_capacity capacity;
    struct node_model *loaded;
    size_t n_loaded;
    struct node_model *available;
    size_t n_available;
    char ollama_host[256];
    char lan_ip[64];
    char tags_sig[65];
};

static int fail(char *err, size_t errlen, const char *fmt, const char *what)
{
    snprintf(err, errlen, fmt, what);
    return -EINVAL;
}

/* A number member that may be absent; present with another type is an error. */
static int opt_num(const json_t *o, const char *key, double *out, const char *where, char *err,
                   size_t errlen)
{
    int rc = jsonx_num(o, key, out);
    if (rc == -EINVAL) {
        snprintf(err, errlen, "%s.%s must be a number", where, key);
        return -EINVAL;
    }
    return 0;
}

static int opt_str(const json_t *o, const char *key, char *out, size_t outlen, const char *where,
                   char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s%s%s must be a string", where, *where ? "." : "", key);
        return -EINVAL;
    }
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

static int opt_obj(const json_t *o, const char *key, const json_t **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return fail(err, errlen, "%s must be an object", key);
    *out = v;
    return 0;
}

static bool valid_id(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\' || *p == '/')
            return false;
    return true;
}

static int parse_models(const json_t *ollama, struct parsed *p, char *err, size_t errlen)
{
    const json_t *loaded = json_object_get(ollama, "models_loaded");
    if (loaded && !json_is_array(loaded) && !json_is_null(loaded))
        return fail(err, errlen, "%s must be an array", "ollama.models_loaded");
    size_t n = json_array_size(loaded);
    if (n > 1024)
        return fail(err, errlen, "%s has too many entries", "ollama.models_loaded");
    if (n) {
        p->loaded = calloc(n, sizeof *p->loaded);
        if (!p->loaded)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(loaded, i);
        const char *name = json_is_object(m) ? jsonx_str(m, "name") : NULL;
        if (!name)
            name = json_is_object(m) ? jsonx_str(m, "model") : NULL;
        struct node_model *nm = &p->loaded[p->n_loaded];
        if (!name || model_name_normalize(name, nm->name, sizeof nm->name) != 0)
            return fail(err, errlen, "%s entries need a valid name", "ollama.models_loaded");
        double size = 0, ctx = 0;
        if (opt_num(m, "size_gb", &size, "ollama.models_loaded[]", err, errlen) ||
            opt_num(m, "context_length", &ctx, "ollama.models_loaded[]", err, errlen))
            return -EINVAL;
        nm->size_gb = size > 0 ? size : 0;
        nm->context_length = ctx > 0 ? (int64_t)ctx : 0;
        nm->caps = model_caps_from_json(json_object_get(m, "capabilities"));
        p->n_loaded++;
    }
    const json_t *avail = json_object_get(ollama, "models_available");
    if (avail && !json_is_array(avail) && !json_is_null(avail))
        return fail(err, errlen, "%s must be an array", "ollama.models_available");
    n = json_array_size(avail);
    if (n > 4096)
        return fail(err, errlen, "%s has too many entries", "ollama.models_available");
    if (n) {
        p->available = calloc(n, sizeof *p->available);
        if (!p->available)
            return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        /* A name, or what /api/tags says of the model: {name, size_gb, capabilities}. */
        const json_t *m = json_array_get(avail, i);
        const char *name = json_is_string(m)   ? json_string_value(m)
                           : json_is_object(m) ? jsonx_str(m, "name")
                                               : NULL;
        if (!name && json_is_object(m))
            name = jsonx_str(m, "model");
        if (!name)
            return fail(err, errlen, "%s entries must be names or objects with a name",
                        "ollama.models_available");
        struct node_model *nm = &p->available[p->n_available];
        if (json_is_object(m)) {
            double size = 0;
            if (opt_num(m, "size_gb", &size, "ollama.models_available[]", err, errlen))
                return -EINVAL;
            nm->size_gb = size > 0 ? size : 0;
            nm->caps = model_caps_from_json(json_object_get(m, "capabilities"));
        }
        /* Names of other back-ends (mlx:...) are kept as given; they never match a request. */
        if (model_name_normalize(name, nm->name, sizeof nm->name) == 0)
            p->n_available++;
        else
            memset(nm, 0, sizeof *nm);
    }
    /* A loaded model is also on disk: it has the capabilities reported there. */
    for (size_t i = 0; i < p->n_loaded; i++)
        for (size_t k = 0; k < p->n_available && !p->loaded[i].caps; k++)
            if (strcmp(p->loaded[i].name, p->available[k].name) == 0)
                p->loaded[i].caps = p->available[k].caps;
    return 0;
}

static int parse(const json_t *o, struct parsed *p, char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    if (!json_is_object(o))
        return fail(err, errlen, "%s", "the heartbeat must be a JSON object");
    const char *id = jsonx_str(o, "node_id");
    if (!id)
        return fail(err, errlen, "%s", "node_id is required (a string)");
    if (strlen(id) >= NODE_ID_MAX || !valid_id(id))
        return fail(err, errlen, "%s",
                    "node_id must be 1..127 printable characters without "
                    "spaces, quotes, slashes or backslashes");
    snprintf(p->id, sizeof p->id, "%s", id);
    const json_t *draining = json_object_get(o, "draining");
    if (draining && !json_is_boolean(draining) && !json_is_null(draining))
        return fail(err, errlen, "%s", "draining must be a boolean");
    p->draining = json_is_true(draining);
    if (p->draining)
        return 0; /* a leaving node need not describe itself */

    const json_t *cpu, *mem, *ollama, *cap;
    if (opt_obj(o, "cpu", &cpu, err, errlen) || opt_obj(o, "memory", &mem, err, errlen) ||
        opt_obj(o, "ollama", &ollama, err, errlen) || opt_obj(o, "capacity", &cap, err, errlen))
        return -EINVAL;
    if (cpu) {
        double cores = 0;
        if (opt_num(cpu, "utilization_pct", &p->cpu_pct, "cpu", err, errlen) ||
            opt_num(cpu, "cores_physical", &cores, "cpu", err, errlen))
            return -EINVAL;
        p->cores = (int)cores;
        p->has_cpu = true;
    }
    if (mem) {
        if (opt_num(mem, "total_gb", &p->mem_total, "memory", err, errlen) ||
            opt_num(mem, "used_gb", &p->mem_used, "memory", err, errlen) ||
            opt_num(mem, "available_gb", &p->mem_avail, "memory", err, errlen))
            return -EINVAL;
        char pressure[16] = "normal";
        if (opt_str(mem, "pressure", pressure, sizeof pressure, "memory", err, errlen))
            return -EINVAL;
        if (strcmp(pressure, "normal") == 0 || strcmp(pressure, "nominal") == 0)
            p->pressure = PRESSURE_NORMAL;
        else if (strcmp(pressure, "warn") == 0 || strcmp(pressure, "warning") == 0)
            p->pressure = PRESSURE_WARN;
        else if (strcmp(pressure, "critical") == 0)
            p->pressure = PRESSURE_CRITICAL;
        else
            return fail(err, errlen, "memory.pressure '%s' is not normal, warn or critical",
                        pressure);
        p->has_memory = true;
    }
    if (ollama) {
        p->has_ollama = true;
        p->ollama_up = jsonx_bool_or(ollama, "ollama_up", true);
        if (parse_models(ollama, p, err, errlen))
            return -EINVAL;
        double par = 0;
        if (opt_num(ollama, "num_parallel", &par, "ollama", err, errlen))
            return -EINVAL;
        p->num_parallel = par >= 1 && par <= 1024 ? (int)par : 0;
        if (opt_str(ollama, "version", p->version, sizeof p->version, "ollama", err, errlen) ||
            opt_str(ollama, "tags_digest", p->tags_sig, sizeof p->tags_sig, "ollama", err, errlen))
            return -EINVAL;
        /* Without the agent's digest of its Ollama's list, the list it sent stands for it. */
        if (!p->tags_sig[0] && p->ollama_up) {
            char *list = json_dumps(json_object_get(ollama, "models_available"),
                                    JSON_COMPACT | JSON_ENCODE_ANY);
            if (list && secret_sha256_hex(list, strlen(list), p->tags_sig) != 0)
                p->tags_sig[0] = '\0';
            free(list);
        }
    }
    if (cap) {
        p->capacity.present = true;
        if (opt_str(cap, "mode", p->capacity.mode, sizeof p->capacity.mode, "capacity", err,
                    errlen) ||
            opt_num(cap, "ceiling_gb", &p->capacity.ceiling_gb, "capacity", err, errlen) ||
            opt_num(cap, "availability_score", &p->capacity.availability_score, "capacity", err,
                    errlen))
            return -EINVAL;
    }
    if (opt_num(o, "memory_bandwidth_gbps", &p->bandwidth, "heartbeat", err, errlen) ||
        opt_str(o, "chip", p->chip, sizeof p->chip, "", err, errlen) ||
        opt_str(o, "ollama_host", p->ollama_host, sizeof p->ollama_host, "", err, errlen) ||
        opt_str(o, "lan_ip", p->lan_ip, sizeof p->lan_ip, "", err, errlen))
        return -EINVAL;
    if (!p->version[0] &&
        opt_str(o, "ollama_version", p->version, sizeof p->version, "", err, errlen))
        return -EINVAL;
    return 0;
}

/* Port of an Ollama URL ("http://host:11434/"), 11434 when none. */
static int url_port(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *bracket = *p == '[' ? strchr(p, ']') : NULL;
    const char *colon = strchr(bracket ? bracket : p, ':');
    if (!colon)
        return 11434;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    return port > 0 && port < 65536 ? (int)port : 11434;
}

static bool is_loopback(const char *ip)
{
    return !ip || !*ip || strncmp(ip, "127.", 4) == 0 || strcmp(ip, "::1") == 0 ||
           strcmp(ip, "::ffff:127.0.0.1") == 0;
}

/* Where to reach the node's Ollama: the same machine when the heartbeat came from loopback,
 * else its LAN address, else the address it reported. */
static void build_url(const struct parsed *p, const char *peer, char *out, size_t outlen)
{
    if (!peer) { /* herd polled this Ollama itself: its address is the one herd was given */
        snprintf(out, outlen, "%s", p->ollama_host);
        size_t len = strlen(out);
        while (len && out[len - 1] == '/')
            out[--len] = '\0';
        return;
    }
    int port = url_port(p->ollama_host[0] ? p->ollama_host : "http://localhost:11434");
    /* An Ollama behind TLS stays behind TLS, whichever address reaches it. */
    const char *scheme = strncmp(p->ollama_host, "https://", 8) == 0 ? "https" : "http";
    if (is_loopback(peer))
        snprintf(out, outlen, "%s://127.0.0.1:%d", scheme, port);
    else if (p->lan_ip[0] && !is_loopback(p->lan_ip))
        snprintf(out, outlen, strchr(p->lan_ip, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme,
                 p->lan_ip, port);
    else if (p->ollama_host[0])
        snprintf(out, outlen, "%s", p->ollama_host);
    else
        snprintf(out, outlen, strchr(peer, ':') ? "%s://[%s]:%d" : "%s://%s:%d", scheme, peer,
                 port);
    size_t len = strlen(out);
    while (len && out[len - 1] == '/')
        out[--len] = '\0';
}

static void remember_unloaded(struct node *n, const char *name, double now)
{
    for (size_t i = 0; i < n->n_unloaded; i++) {
        if (strcmp(n->unloaded[i].name, name) == 0) {
            n->unloaded[i].at = now;
            return;
        }
    }
    if (n->n_unloaded == WARM_KEEP) {
        memmove(n->unloaded, n->unloaded + 1, (WARM_KEEP - 1) * sizeof *n->unloaded);
        n->n_unloaded--;
    }
    if (!n->unloaded) {
        n->unloaded = calloc(WARM_KEEP, sizeof *n->unloaded);
        if (!n->unloaded)
            return;
    }
    snprintf(n->unloaded[n->n_unloaded].name, MODEL_NAME_MAX, "%s", name);
    n->unloaded[n->n_unloaded++].at = now;
}

int registry_heartbeat(struct registry *r, const json_t *payload, const char *peer_ip, double now,
                       struct node **out, char *err, size_t errlen)
{
    struct parsed p;
    int rc = parse(payload, &p, err, errlen);
    if (rc) {
        free(p.loaded);
        free(p.available);
        return rc;
    }
    struct node *n = registry_find(r, p.id);
    if (!n) {
        if (p.draining) {
            /* A node we never knew says goodbye: nothing to do. */
            if (out)
                *out = NULL;
            return 0;
        }
        n = calloc(1, sizeof *n);
        struct node **nodes = realloc(r->nodes, (r->n + 1) * sizeof *nodes);
        if (!n || !nodes) {
            free(n);
            free(p.loaded);
            free(p.available);
            if (nodes)
                r->nodes = nodes;
            snprintf(err, errlen, "out of memory");
            return -ENOMEM;
        }
        r->nodes = nodes;
        snprintf(n->id, sizeof n->id, "%s", p.id);
        n->order = (int)r->n;
        n->first_seen = now;
        r->nodes[r->n++] = n;
        LOG_INFO("node %s joined the fleet", n->id);
    }
    n->last_heartbeat = now;
    if (p.draining) {
        if (!n->draining)
            LOG_INFO("node %s is draining: no new requests go to it", n->id);
        n->draining = true;
        n->status = NODE_OFFLINE;
        if (out)
            *out = n;
        return 0;
    }
    if (n->status != NODE_ONLINE || n->draining)
        LOG_INFO("node %s is online", n->id);
    n->draining = false;
    n->status = NODE_ONLINE;
    /* Models that left memory since the last beat are "warm" for a while. */
    for (size_t i = 0; i < n->n_loaded; i++) {
        bool still = false;
        for (size_t k = 0; k < p.n_loaded; k++)
            still |= strcmp(n->loaded[i].name, p.loaded[k].name) == 0;
        if (!still)
            remember_unloaded(n, n->loaded[i].name, now);
    }
    node_clear_models(n);
    n->loaded = p.loaded;
    n->n_loaded = p.n_loaded;
    n->available = p.available;
    n->n_available = p.n_available;
    n->has_ollama = p.has_ollama;
    n->ollama_up = p.ollama_up;
    n->has_memory = p.has_memory;
    n->has_cpu = p.has_cpu;
    n->cpu_pct = p.cpu_pct;
    n->cores = p.cores;
    n->mem_total_gb = p.mem_total;
    n->mem_used_gb = p.mem_used;
    n->mem_available_gb = p.mem_avail;
    n->pressure = p.pressure;
    if (p.bandwidth > 0)
        n->bandwidth_gbps = p.bandwidth;
    if (p.chip[0])
        snprintf(n->chip, sizeof n->chip, "%s", p.chip);
    snprintf(n->ollama_version, sizeof n->ollama_version, "%s", p.version);
    n->num_parallel = p.num_parallel;
    n->capacity = p.capacity;
    snprintf(n->lan_ip, sizeof n->lan_ip, "%s", p.lan_ip);
    snprintf(n->tags_sig, sizeof n->tags_sig, "%s", p.tags_sig);
    char url[256];
    build_url(&p, peer_ip, url, sizeof url);
    if (strcmp(url, n->url) != 0) {
        if (n->url[0])
            LOG_INFO("node %s: Ollama now at %s", n->id, url);
        snprintf(n->url, sizeof n->url, "%s", url);
    }
    json_decref(n->payload);
    n->payload = json_deep_copy(payload);
    if (out)
        *out = n;
    return 0;
}

void registry_remove(struct registry *r, const char *id)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->nodes[i]->id, id) != 0)
            continue;
        node_free(r->nodes[i]);
        memmove(&r->nodes[i], &r->nodes[i + 1], (r->n - i - 1) * sizeof *r->nodes);
        r->n--;
        return;
    }
}

int registry_tick(struct registry *r, double now)
{
    int changed = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct node *n = r->nodes[i];
        double quiet = now - n->last_heartbeat;
        enum node_status s = n->status;
        if (n->draining || quiet > r->offline_after)
            s = NODE_OFFLINE;
        else if (quiet > r->degraded_after)
            s = NODE_DEGRADED;
        if (s != n->status) {
            LOG_WARN("node %s is %s: no heartbeat for %.0f s", n->id, node_status_name(s), quiet);
            n->status = s;
            changed++;
        }
    }
    return changed;
}
