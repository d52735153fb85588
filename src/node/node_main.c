/* herd-node: the agent beside each machine's Ollama. */
#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"
#include "node/agent.h"
#include "node/capacity.h"
#include "node/discovery.h"
#include "node/node_config.h"
#include "node/sysinfo.h"

extern char **environ;

static struct event_base *base;
static struct agent *agent;
static bool stopping;

static void on_drained(void *arg)
{
    (void)arg;
    event_base_loopexit(base, NULL);
}

static double stop_requested_at;

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    (void)arg;
    /* Tools like timeout(1) signal the process and then its group, so one stop request can
     * arrive twice at once; only a second request a moment later means "stop now". */
    if (stopping) {
        if (time_mono() - stop_requested_at < 1.0)
            return;
        LOG_INFO("signal %d again: stopping now", (int)sig);
        event_base_loopexit(base, NULL);
        return;
    }
    stopping = true;
    stop_requested_at = time_mono();
    LOG_INFO("signal %d: telling the coordinator this node is leaving", (int)sig);
    agent_drain(agent, on_drained, NULL);
}

/* The short host name: "studio" of "studio.local". */
static char *default_node_id(void)
{
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "node");
    host[strcspn(host, ".")] = '\0';
    return strdup(host);
}

static void override_path(const struct node_settings *s, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/capacity-override-%s.json", s->data_dir, s->node_id);
}

static void print_override(const struct cap_override *o, double now)
{
    if (o->mode == CAP_OVERRIDE_NONE || (o->until > 0 && now >= o->until)) {
        printf("override: none (the capacity learner decides)\n");
        return;
    }
    const char *m = o->mode == CAP_OVERRIDE_FULL ? "full" : "paused";
    if (o->until <= 0) {
        printf("override: %s until 'herd-node capacity auto'\n", m);
        return;
    }
    char when[64];
    time_t t = (time_t)o->until;
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M %Z", &tm);
    printf("override: %s until %s (%.1f h from now)\n", m, when, (o->until - now) / 3600);
}

static int capacity_status(const struct node_settings *s)
{
    double now = time_wall();
    char path[1100];
    override_path(s, path, sizeof path);
    struct cap_override o = {CAP_OVERRIDE_NONE, 0};
    json_t *v = json_load_file(path, 0, NULL);
    if (v && cap_override_from_json(&o, v) != 0)
        printf("override file %s is unreadable\n", path);
    json_decref(v);
    printf("node: %s\n", s->node_id);
    print_override(&o, now);
    snprintf(path, sizeof path, "%s/capacity-learner-%s.json", s->data_dir, s->node_id);
    struct capacity cap;
    capacity_init(&cap);
    v = json_load_file(path, 0, NULL);
    if (!v || capacity_from_json(&cap, v) != 0) {
        printf("learned: nothing yet (%s)\n", s->learn_capacity
                                                  ? "the agent saves its model every few minutes"
                                                  : "start the agent with --learn-capacity");
        json_decref(v);
        return 0;
    }
    json_decref(v);
    struct sysinfo *sys = sysinfo_new(&(struct sysinfo_opts){.nvml_library = "none"});
    struct sys_sample sample;
    sysinfo_collect(sys, &sample);
    sysinfo_free(sys);
    struct cap_decision d = capacity_decide(&cap, now, sample.mem_total_gb, &o);
    int slot = capacity_slot_index(now);
    double cpu, hours;
    capacity_slot_history(&cap, slot, now, &cpu, &hours);
    printf("learned: %.1f days observed, confidence %.2f; this hour usually %.0f %% CPU "
           "(%.1f h of history)\n",
           d.days_observed, d.learning_confidence, cpu, hours);
    printf("now: %s (%s), ceiling %.1f GB, availability %.2f\n", d.mode, d.reason, d.ceiling_gb,
           d.score);
    return 0;
}

/* herd-node capacity full|paused|auto|status [--hours N]. */
static int capacity_command(const struct node_settings *s, const struct cfg_status *st)
{
    if (st->n_positional != 2) {
        fprintf(stderr, "herd-node: usage: herd-node capacity full|paused|auto|status "
                        "[--hours N]\n");
        return 2;
    }
    const char *what = st->positional[1];
    if (strcmp(what, "status") == 0)
        return capacity_status(s);
    enum cap_override_mode mode;
    if (cap_override_parse(what, &mode) != 0) {
        fprintf(stderr, "herd-node: capacity takes full, paused, auto or status, not '%s'\n", what);
        return 2;
    }
    int rc = fsutil_mkdir_p(s->data_dir);
    if (rc) {
        fprintf(stderr, "herd-node: cannot create %s: %s\n", s->data_dir, strerror(-rc));
        return 1;
    }
    char path[1100];
    override_path(s, path, sizeof path);
    double now = time_wall();
    if (mode == CAP_OVERRIDE_NONE) {
        if (unlink(path) != 0 && errno != ENOENT) {
            fprintf(stderr, "herd-node: cannot remove %s: %s\n", path, strerror(errno));
            return 1;
        }
        printf("node %s: override cleared; the capacity learner decides again\n", s->node_id);
        return 0;
    }
    struct cap_override o = {mode, s->hours > 0 ? now + s->hours * 3600 : 0};
    json_t *v = cap_override_to_json(&o);
    json_object_set_new(v, "set_at", json_real(now));
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    rc = json_dump_file(v, tmp, JSON_COMPACT) == 0 && rename(tmp, path) == 0 ? 0 : -1;
    json_decref(v);
    if (rc) {
        fprintf(stderr, "herd-node: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("node %s: ", s->node_id);
    print_override(&o, now);
    return 0;
}

int main(int argc, char **argv)
{
    struct node_settings s;
    struct cfg_status st;
    char err[512] = "";
    char env_file[4096];
    int exit_code = 1;
    struct discovery *disc = NULL;
    const struct cfg_spec *spec = &node_config_spec;

    int rc = cfg_program_start(spec, &s, argc, argv,
                               cfg_default_env_file(environ, env_file, sizeof env_file),
                               "herd-node", &st);
    if (rc) {
        exit_code = rc > 0 ? 0 : 1;
        goto out;
    }
    if (!s.node_id || !*s.node_id) {
        free(s.node_id);
        s.node_id = default_node_id();
    }
    fsutil_expand_home(&s.data_dir);
    if (st.n_positional > 0 && strcmp(st.positional[0], "capacity") == 0) {
        exit_code = capacity_command(&s, &st);
        goto out;
    }
    if (st.n_positional) {
        fprintf(stderr, "herd-node: unexpected argument '%s' (see --help)\n", st.positional[0]);
        goto out;
    }
    rc = log_open_data_dir("herd-node", s.data_dir, s.log_level, s.console_log_level);
    if (rc == -EINVAL) {
        fprintf(stderr, "herd-node: log levels are debug, info, warn, error or off\n");
        goto out;
    }
    if (rc) /* the agent works without its data directory, only forgetting what it learns */
        LOG_WARN("cannot create the data directory %s: %s", s.data_dir, strerror(-rc));

    base = event_base_new();
    if (!base)
        goto out;
    agent = agent_new(base, &s, err, sizeof err);
    if (!agent) {
        fprintf(stderr, "herd-node: %s\n", err);
        goto out;
    }
    if (s.router_url && *s.router_url) {
        agent_set_router(agent, s.router_url, "--router-url");
    } else {
        disc = discovery_start(base, agent, s.router_name, s.lan_ip, err, sizeof err);
        if (!disc) {
            fprintf(stderr, "herd-node: no --router-url and mDNS discovery cannot start: %s\n",
                    err);
            goto out;
        }
    }
    LOG_INFO("herd-node %s: node %s, Ollama at %s, heartbeat every %.1f s%s", HERD_VERSION,
             s.node_id, s.ollama_host, s.heartbeat_interval,
             s.learn_capacity ? ", learning capacity" : "");
    agent_start(agent);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, NULL);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, NULL);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    exit_code = 0;

out:
    discovery_stop(disc);
    agent_free(agent);
    if (base)
        event_base_free(base);
    cfg_status_free(&st);
    cfg_free(spec, &s);
    log_close();
    return exit_code;
}
