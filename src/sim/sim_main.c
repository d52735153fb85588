/* herd-sim: a simulated Ollama node (or a whole fleet of them) for tests, benchmarks, the demo
 * and capacity planning. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "sim/sim_profile.h"
#include "sim/sim_manage.h"
#include "sim/sim_native.h"
#include "sim/sim_openai.h"
#include "sim/sim_server.h"

extern char **environ;

struct sim_settings {
    char *host;
    int64_t port;
    char *name;
    struct cfg_list models;
    struct cfg_list loaded;
    struct cfg_list registry;
    struct cfg_list faults;
    char *profile;
    char *node;
    double time_scale;
    double memory_gb;
    double vram_gb;
    double disk_gbps;
    double bandwidth_gbps;
    double speed;
    double pull_gbps;
    double load_overhead_s;
    double parallel_efficiency;
    int64_t num_parallel;
    int64_t max_loaded;
    int64_t max_queue;
    double keep_alive_s;
    int64_t context_length;
    char *version;
    int64_t seed;
    char *tokens;
    char *ready_file;
    char *tls_cert;
    char *tls_key;
    char *log_level;
    char *log_dir;
};

#define S(f) offsetof(struct sim_settings, f)
static const struct cfg_option options[] = {
    {"host", "HERD_SIM_HOST", CFG_STRING, S(host), "127.0.0.1", 0, 0, NULL, "ADDR",
     "Address to listen on"},
    {"port", "HERD_SIM_PORT", CFG_INT, S(port), "11434", 0, 65535, NULL, "PORT",
     "Port to listen on (0 picks a free one; see --ready-file). In a fleet profile, nodes "
     "without a port take consecutive ports from here"},
    {"name", "HERD_SIM_NAME", CFG_STRING, S(name), "sim", 0, 0, NULL, "NAME",
     "Name of the simulated machine (logs, /_sim/state)"},
    {"model", "HERD_SIM_MODELS", CFG_LIST, S(models), NULL, 0, 0, NULL, "NAME=GB",
     "A model on disk with its size in GB, e.g. qwen2.5:7b=4.7"},
    {"loaded", "HERD_SIM_LOADED", CFG_LIST, S(loaded), NULL, 0, 0, NULL, "NAME",
     "A model that starts loaded (warm)"},
    {"registry", "HERD_SIM_REGISTRY", CFG_LIST, S(registry), NULL, 0, 0, NULL, "NAME=GB",
     "A model /api/pull can fetch (besides a built-in list of common models)"},
    {"fault", "HERD_SIM_FAULTS", CFG_LIST, S(faults), NULL, 0, 0, NULL, "SPEC",
     "Inject a fault from the start: fail[:STATUS], drop:N, stall:N, queue-full, slow:FACTOR, "
     "each optionally @MODEL (see docs/simulator.md)"},
    {"profile", "HERD_SIM_PROFILE", CFG_STRING, S(profile), NULL, 0, 0, NULL, "FILE",
     "JSON profile describing one machine or a whole fleet (see profiles/)"},
    {"node", "HERD_SIM_NODE", CFG_STRING, S(node), NULL, 0, 0, NULL, "NAME",
     "With a fleet profile: run only this node"},
    {"time-scale", "HERD_SIM_TIME_SCALE", CFG_DOUBLE, S(time_scale), "1", 0.0001, 1000, NULL, "X",
     "Real seconds per modelled second: 0.01 runs every delay 100x faster"},
    {"memory-gb", "HERD_SIM_MEMORY_GB", CFG_DOUBLE, S(memory_gb), "32", 0.1, 100000, NULL, "GB",
     "Memory available for loaded models"},
    {"vram-gb", "HERD_SIM_VRAM_GB", CFG_DOUBLE, S(vram_gb), "-1", -1, 100000, NULL, "GB",
     "GPU memory reported as size_vram; -1 means unified memory (all of it)"},
    {"disk-gbps", "HERD_SIM_DISK_GBPS", CFG_DOUBLE, S(disk_gbps), "2", 0.001, 1000, NULL, "GB/S",
     "Disk read speed: sets model load time"},
    {"bandwidth-gbps", "HERD_SIM_BANDWIDTH_GBPS", CFG_DOUBLE, S(bandwidth_gbps), "200", 0.1, 100000,
     NULL, "GB/S", "Memory bandwidth: sets generation speed (tokens/s = 0.7 x GB/s / size)"},
    {"speed", "HERD_SIM_SPEED", CFG_DOUBLE, S(speed), "1", 0.001, 1000, NULL, "X",
     "Multiplier on every speed of the machine"},
    {"pull-gbps", "HERD_SIM_PULL_GBPS", CFG_DOUBLE, S(pull_gbps), "0.1", 0.0001, 1000, NULL, "GB/S",
     "Download speed of /api/pull"},
    {"load-overhead", "HERD_SIM_LOAD_OVERHEAD", CFG_DOUBLE, S(load_overhead_s), "0.5", 0, 3600,
     NULL, "SECONDS", "Fixed part of every model load"},
    {"parallel-efficiency", "HERD_SIM_PARALLEL_EFFICIENCY", CFG_DOUBLE, S(parallel_efficiency),
     "0.5", 0, 1, NULL, "E",
     "Batching gain: k streams on one model run at (1 + E(k-1))/k of the speed of one"},
    {"num-parallel", "OLLAMA_NUM_PARALLEL", CFG_INT, S(num_parallel), "1", 1, 256, NULL, "N",
     "Parallel slots per loaded model"},
    {"max-loaded", "OLLAMA_MAX_LOADED_MODELS", CFG_INT, S(max_loaded), "3", 1, 256, NULL, "N",
     "Most models loaded at once"},
    {"max-queue", "OLLAMA_MAX_QUEUE", CFG_INT, S(max_queue), "512", 1, 1000000, NULL, "N",
     "Requests that may wait for a model load before 503"},
    {"keep-alive", "HERD_SIM_KEEP_ALIVE", CFG_DOUBLE, S(keep_alive_s), "300", -1, 1e9, NULL,
     "SECONDS", "Idle time before a model unloads (-1 never, 0 at once)"},
    {"context-length", "OLLAMA_CONTEXT_LENGTH", CFG_INT, S(context_length), "0", 0, 10000000, NULL,
     "N", "Default num_ctx; 0 picks 4096/32768/262144 by VRAM like Ollama"},
    {"ollama-version", "HERD_SIM_OLLAMA_VERSION", CFG_STRING, S(version), "0.12.6", 0, 0, NULL,
     "X.Y.Z", "Version reported by /api/version"},
    {"seed", "HERD_SIM_SEED", CFG_INT, S(seed), "0", 0, 9.0e15, NULL, "N",
     "Seed of the generated text (same seed and prompt, same reply)"},
    {"tokens", "HERD_SIM_TOKENS", CFG_STRING, S(tokens), "16-48", 0, 0, NULL, "MIN-MAX",
     "Length of a reply when the request sets no num_predict / max_tokens"},
    {"tls-cert", "HERD_SIM_TLS_CERT", CFG_STRING, S(tls_cert), NULL, 0, 0, NULL, "FILE",
     "Serve HTTPS with this PEM certificate chain (with --tls-key), like an Ollama behind a TLS "
     "proxy"},
    {"tls-key", "HERD_SIM_TLS_KEY", CFG_STRING, S(tls_key), NULL, 0, 0, NULL, "FILE",
     "The certificate's PEM private key"},
    {"ready-file", "HERD_SIM_READY_FILE", CFG_STRING, S(ready_file), NULL, 0, 0, NULL, "FILE",
     "Write {\"nodes\":[{name, port, url}]} here once listening"},
    {"log-level", "HERD_SIM_LOG_LEVEL", CFG_STRING, S(log_level), "info", 0, 0, NULL, "LEVEL",
     "debug, info, warn, error or off"},
    {"log-dir", "HERD_SIM_LOG_DIR", CFG_STRING, S(log_dir), NULL, 0, 0, NULL, "DIR",
     "Also write a JSON-lines log (herd-sim.jsonl) here"},
};
#undef S

static const struct cfg_spec spec = {
    "herd-sim",
    "Simulated Ollama node(s): Ollama's native and OpenAI APIs with a performance model and "
    "fault injection.",
    "[options]",
    options,
    sizeof options / sizeof options[0],
    "Control endpoints on every node:\n"
    "  POST /_sim/fault {\"kind\":\"fail|drop|stall|queue_full|slow\", ...}  inject a fault\n"
    "  DELETE /_sim/fault                                               clear faults\n"
    "  GET /_sim/state                                                  runners, queues, counters\n"
    "  GET|DELETE /_sim/requests                                        the requests it received\n"
    "\nExample:\n"
    "  herd-sim --port 11501 --model qwen2.5:7b=4.7 --model llama3.3:70b=42 \\\n"
    "           --loaded qwen2.5:7b --time-scale 0.01\n",
};

static struct event_base *base;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    LOG_INFO("signal %d: stopping", (int)sig);
    event_base_loopexit(base, NULL);
}

static int build_base_config(const struct sim_settings *s, struct sim_node_config *c, char *err,
                             size_t errlen)
{
    memset(c, 0, sizeof *c);
    struct sim_machine_spec *m = &c->machine;
    snprintf(m->name, sizeof m->name, "%s", s->name);
    m->memory_gb = s->memory_gb;
    m->vram_gb = s->vram_gb;
    m->disk_gbps = s->disk_gbps;
    m->bandwidth_gbps = s->bandwidth_gbps;
    m->speed = s->speed;
    m->pull_gbps = s->pull_gbps;
    m->load_overhead_s = s->load_overhead_s;
    m->parallel_efficiency = s->parallel_efficiency;
    m->num_parallel = (int)s->num_parallel;
    m->max_loaded = (int)s->max_loaded;
    m->max_queue = (int)s->max_queue;
    m->keep_alive_s = s->keep_alive_s;
    m->context_length = s->context_length;
    snprintf(m->version, sizeof m->version, "%s", s->version);
    snprintf(c->host, sizeof c->host, "%s", s->host);
    c->port = (int)s->port;
    c->time_scale = s->time_scale;
    c->seed = (uint64_t)s->seed;
    if (sim_parse_token_range(s->tokens, &c->min_tokens, &c->max_tokens)) {
        snprintf(err, errlen, "--tokens: expected MIN-MAX, e.g. 16-48");
        return -EINVAL;
    }
    for (size_t i = 0; i < s->models.n; i++) {
        struct sim_model_spec ms;
        if (sim_parse_model_arg(s->models.items[i], &ms, err, errlen))
            return -EINVAL;
        sim_config_add_model(c, &ms);
    }
    for (size_t i = 0; i < s->loaded.n; i++)
        sim_config_add_loaded(c, s->loaded.items[i]);
    for (size_t i = 0; i < s->registry.n; i++) {
        struct sim_model_spec ms;
        if (sim_parse_model_arg(s->registry.items[i], &ms, err, errlen))
            return -EINVAL;
        sim_config_add_registry(c, ms.name, ms.size_gb);
    }
    for (size_t i = 0; i < s->faults.n; i++) {
        struct sim_fault f;
        if (sim_fault_parse_spec(s->faults.items[i], &f, err, errlen))
            return -EINVAL;
        sim_config_add_fault(c, &f);
    }
    return 0;
}

static int write_ready_file(const char *path, struct sim_node **nodes, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char url[128];
        snprintf(url, sizeof url, "%s://%s:%d", nodes[i]->tls ? "https" : "http", nodes[i]->host,
                 nodes[i]->port);
        json_array_append_new(arr, json_pack("{s:s, s:i, s:s}", "name", nodes[i]->machine.spec.name,
                                             "port", nodes[i]->port, "url", url));
    }
    json_t *o = json_pack("{s:o, s:i}", "nodes", arr, "pid", (int)getpid());
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = json_dump_file(o, tmp, JSON_COMPACT);
    json_decref(o);
    if (rc != 0 || rename(tmp, path) != 0)
        return -errno;
    return 0;
}

int main(int argc, char **argv)
{
    struct sim_settings s;
    struct cfg_status st;
    char err[512] = "";
    int exit_code = 1;
    struct sim_node_config base_cfg;
    memset(&base_cfg, 0, sizeof base_cfg);
    struct sim_fleet fleet = {0};
    struct sim_node **nodes = NULL;
    size_t n_nodes = 0;

    int rc = cfg_program_start(&spec, &s, argc, argv, NULL, "herd-sim", &st);
    if (rc) {
        exit_code = rc > 0 ? 0 : 1;
        goto out;
    }
    if (st.n_positional) {
        fprintf(stderr, "herd-sim: unexpected argument '%s' (see --help)\n", st.positional[0]);
        goto out;
    }
    enum log_level level;
    if (log_level_parse(s.log_level, &level)) {
        fprintf(stderr, "herd-sim: --log-level: '%s' is not a level\n", s.log_level);
        goto out;
    }
    struct log_options lo = {.program = "herd-sim",
                             .stderr_level = level,
                             .file_level = s.log_dir && *s.log_dir ? level : LOG_LEVEL_OFF,
                             .dir = s.log_dir,
                             .file_name = "herd-sim.jsonl",
                             .retention = 30};
    if (log_open(&lo) != 0 && s.log_dir && *s.log_dir)
        LOG_WARN("cannot open the log file in %s", s.log_dir);

    if (build_base_config(&s, &base_cfg, err, sizeof err)) {
        fprintf(stderr, "herd-sim: %s\n", err);
        goto out;
    }
    if (s.profile && *s.profile) {
        if (sim_profile_load(s.profile, &base_cfg, &fleet, err, sizeof err)) {
            fprintf(stderr, "herd-sim: %s\n", err);
            goto out;
        }
    } else {
        fleet.nodes = calloc(1, sizeof *fleet.nodes);
        if (!fleet.nodes || sim_config_copy(&fleet.nodes[0], &base_cfg))
            goto out;
        fleet.n = 1;
    }

    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    nodes = calloc(fleet.n, sizeof *nodes);
    if (!base || !nodes)
        goto out;
    for (size_t i = 0; i < fleet.n; i++) {
        struct sim_node_config *c = &fleet.nodes[i];
        if (s.node && *s.node && strcmp(s.node, c->machine.name) != 0)
            continue;
        static const sim_routes_fn apis[] = {sim_native_routes, sim_manage_routes,
                                             sim_openai_routes};
        c->routes = apis;
        c->n_routes = sizeof apis / sizeof apis[0];
        nodes[n_nodes] = sim_node_start(base, c, err, sizeof err);
        if (!nodes[n_nodes]) {
            fprintf(stderr, "herd-sim: %s\n", err);
            goto out;
        }
        struct sim_node *nd = nodes[n_nodes++];
        /* Before the loop runs, so no connection is ever accepted without TLS. */
        if (s.tls_cert && *s.tls_cert) {
            if (httpd_use_tls(nd->httpd, s.tls_cert, s.tls_key ? s.tls_key : "", err, sizeof err) !=
                0) {
                fprintf(stderr, "herd-sim: %s\n", err);
                goto out;
            }
            nd->tls = true;
        }
        LOG_INFO("node %s listening on %s://%s:%d (%zu models, %.0f GB, time scale %g)",
                 c->machine.name, nd->tls ? "https" : "http", nd->host, nd->port,
                 nd->machine.n_models, c->machine.memory_gb, c->time_scale);
    }
    if (n_nodes == 0) {
        fprintf(stderr, "herd-sim: no node named '%s' in %s\n", s.node, s.profile);
        goto out;
    }
    /* Signals are handled before the ready file says the nodes listen. */
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    bool ready =
        !(s.ready_file && *s.ready_file) || write_ready_file(s.ready_file, nodes, n_nodes) == 0;
    if (ready)
        event_base_dispatch(base);
    else
        fprintf(stderr, "herd-sim: cannot write %s\n", s.ready_file);
    event_free(sigint);
    event_free(sigterm);
    exit_code = ready ? 0 : 1;

out:
    for (size_t i = 0; i < n_nodes; i++)
        sim_node_free(nodes[i]);
    free(nodes);
    sim_fleet_free(&fleet);
    sim_config_free(&base_cfg);
    if (base)
        event_base_free(base);
    cfg_status_free(&st);
    cfg_free(&spec, &s);
    log_close();
    return exit_code;
}
