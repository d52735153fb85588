/* herd: the coordinator. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/secret.h"
#include "coord/access.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "coord/herd.h"
#include "coord/coord_advertise.h"
#include "coord/runtime_settings.h"

extern char **environ;

static struct event_base *base;
static struct event *drain_check;
static double drain_deadline;

/* Exits the loop once nothing is in flight, or at the drain deadline. */
static void on_drain_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct coord *c = arg;
    /* Finished is not enough: the last bytes must have reached the clients too. */
    size_t flushing = httpd_flushing(c->httpd);
    if ((c->n_active == 0 && flushing == 0) || time_mono() >= drain_deadline) {
        if (c->n_active || flushing)
            LOG_WARN("drain timeout: %zu requests in flight and %zu replies being written are cut",
                     c->n_active, flushing);
        event_base_loopexit(base, NULL);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct coord *c = arg;
    if (sig == SIGINT || c->draining) {
        LOG_INFO("signal %d: stopping now", (int)sig);
        event_base_loopexit(base, NULL);
        return;
    }
    LOG_INFO("SIGTERM: finishing the requests in flight (up to %.0f s), then stopping",
             c->settings->drain_timeout);
    coord_begin_drain(c);
    drain_deadline = time_mono() + c->settings->drain_timeout;
    drain_check = event_new(base, -1, EV_PERSIST, on_drain_check, c);
    struct timeval tv = time_tv(0.05);
    if (drain_check)
        event_add(drain_check, &tv);
    on_drain_check(-1, 0, c);
}

/* --new-key NAME: a key for the client, and the line (its hash) for the keys file. */
static int print_new_key(const char *name)
{
    char key[64], hash[SECRET_SHA256_HEX], line[200], err[200];
    if (secret_new_key(key, sizeof key) != 0 || secret_sha256_hex(key, strlen(key), hash) != 0) {
        fprintf(stderr, "herd: cannot make a key\n");
        return 1;
    }
    snprintf(line, sizeof line, "%s:sha256:%s", name, hash);
    struct access check = {0};
    int rc = access_add_file_text(&check, line, "--new-key", err, sizeof err);
    access_free(&check);
    if (rc) {
        fprintf(stderr, "herd: %s\n", err);
        return 1;
    }
    printf("key for %s (give it to the client; herd keeps only its hash):\n  %s\n"
           "line for the keys file (FLEET_API_KEYS_FILE):\n  %s\n",
           name, key, line);
    return 0;
}

/* Every stream holds two descriptors (client and node), and the usual soft limit of 1024
 * would cap herd near 500 streams: raise it to the hard limit, as the system allows. */
static void raise_fd_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
        return;
    rlim_t was = r.rlim_cur;
    r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &r) == 0)
        LOG_INFO("open files: limit raised from %llu to %llu", (unsigned long long)was,
                 (unsigned long long)r.rlim_max);
}

int main(int argc, char **argv)
{
    struct coord_settings s;
    struct cfg_status st;
    char err[512] = "";
    char env_file[4096];
    int exit_code = 1;
    struct coord *c = NULL;
    struct coord_advert *advert = NULL;
    const struct cfg_spec *spec = &coord_config_spec;

    int rc =
        cfg_program_start(spec, &s, argc, argv,
                          cfg_default_env_file(environ, env_file, sizeof env_file), "herd", &st);
    if (rc) {
        exit_code = rc > 0 ? 0 : 1;
        goto out;
    }
    if (st.n_positional) {
        fprintf(stderr, "herd: unexpected argument '%s' (see --help)\n", st.positional[0]);
        goto out;
    }
    if (s.new_key && *s.new_key) {
        exit_code = print_new_key(s.new_key);
        goto out;
    }
    fsutil_expand_home(&s.data_dir);
    rc = log_open_data_dir("herd", s.data_dir, s.log_level, s.console_log_level);
    if (rc == -EINVAL) {
        fprintf(stderr, "herd: log levels are debug, info, warn, error or off\n");
        goto out;
    }
    if (rc) {
        fprintf(stderr, "herd: cannot create the data directory %s: %s\n", s.data_dir,
                strerror(-rc));
        goto out;
    }

    rc = runtime_settings_load(&s, s.data_dir, err, sizeof err);
    if (rc) {
        fprintf(stderr, "herd: %s (fix or delete it)\n", err);
        goto out;
    }
    char saved[4200];
    snprintf(saved, sizeof saved, "%s/settings.json", s.data_dir);
    if (access(saved, F_OK) == 0) {
        json_t *rt = runtime_settings_json(&s);
        char *text = json_dumps(rt, JSON_COMPACT);
        LOG_INFO("settings changed on the dashboard (%s) apply over the configuration: %s", saved,
                 text ? text : "?");
        free(text);
        json_decref(rt);
    }

    raise_fd_limit();
    base = event_base_new();
    if (!base)
        goto out;
    c = herd_new(base, &s, err, sizeof err);
    if (c)
        c->cfg_sources = st.sources;
    if (!c) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }
    int port = 0;
    rc = coord_listen(c, &port);
    if (rc) {
        fprintf(stderr, "herd: cannot listen on %s:%lld: %s\n", s.host, (long long)s.port,
                strerror(-rc));
        goto out;
    }
    LOG_INFO("herd %s listening on http://%s:%d (data in %s)", HERD_VERSION, s.host, port,
             s.data_dir);
    /* Signals are handled before the line below: tests and scripts that ask for port 0 read
     * the port from it, and may stop herd the moment they have. */
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, c);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, c);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    printf("herd listening on port %d\n", port);
    fflush(stdout);
    if (s.mdns)
        advert = coord_advertise_start(base, &s, port);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    if (drain_check)
        event_free(drain_check);
    exit_code = 0;

out:
    coord_advertise_stop(advert);
    herd_free(c);
    if (base)
        event_base_free(base);
    cfg_status_free(&st);
    cfg_free(spec, &s);
    log_close();
    return exit_code;
}
