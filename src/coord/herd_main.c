/* herd: the coordinator. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "coord/coord.h"
#include "net/mdns.h"
#include "net/mdns_service.h"

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

/* Advertises herd as _fleet-manager._tcp so herd-node finds it. A coordinator bound to a
 * loopback address cannot be reached from the network, so it is not advertised; nor is one
 * without a multicast socket (that is logged, and herd runs on: nodes can use --router-url). */
static struct mdns *advertise(struct event_base *loop, const struct coord_settings *s, int port,
                              struct mdns_service **out)
{
    *out = NULL;
    if (strncmp(s->host, "127.", 4) == 0 || strcmp(s->host, "::1") == 0 ||
        strcmp(s->host, "localhost") == 0) {
        LOG_INFO("mDNS: not advertising (listening on %s only)", s->host);
        return NULL;
    }
    char err[256];
    const char *addr = s->mdns_address && *s->mdns_address ? s->mdns_address : NULL;
    if (!addr && strcmp(s->host, "0.0.0.0") != 0)
        addr = s->host; /* bound to one address: advertise that one */
    struct mdns *m = mdns_new(loop, addr, err, sizeof err);
    if (!m) {
        LOG_WARN("mDNS: cannot advertise herd (%s); nodes need --router-url", err);
        return NULL;
    }
    char host[64] = "", label[80], port_txt[24], version_txt[48];
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "host");
    host[strcspn(host, ".")] = '\0';
    snprintf(label, sizeof label, "herd-%s", host);
    for (char *p = label; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            *p = '-';
    snprintf(port_txt, sizeof port_txt, "port=%d", port);
    snprintf(version_txt, sizeof version_txt, "version=%s", HERD_VERSION);
    const char *txt[] = {version_txt, port_txt, "api=ollama,openai", "tls=0", "auth=0", NULL};
    struct mdns_service_opts o = {.type = HERD_MDNS_TYPE,
                                  .instance = s->mdns_service_name,
                                  .host_label = label,
                                  .port = (uint16_t)port,
                                  .txt = txt};
    *out = mdns_service_new(m, &o, err, sizeof err);
    if (!*out) {
        LOG_WARN("mDNS: cannot advertise herd: %s", err);
        mdns_free(m);
        return NULL;
    }
    char ip[INET_ADDRSTRLEN];
    struct in_addr a = mdns_address(m);
    inet_ntop(AF_INET, &a, ip, sizeof ip);
    LOG_INFO("mDNS: advertising '%s' (%s) at %s:%d", mdns_service_instance(*out), HERD_MDNS_TYPE,
             ip, port);
    if (mdns_interfaces(m) == 0)
        LOG_WARN("mDNS: no multicast network interface is up yet; will advertise when one is");
    return m;
}

int main(int argc, char **argv)
{
    struct coord_settings s;
    struct cfg_status st;
    char err[512] = "";
    char env_file[4096];
    int exit_code = 1;
    struct coord *c = NULL;
    struct mdns *mdns = NULL;
    struct mdns_service *advert = NULL;
    const struct cfg_spec *spec = &coord_config_spec;

    int rc =
        cfg_load(spec, &s, argc, argv, environ,
                 cfg_default_env_file(environ, env_file, sizeof env_file), &st, err, sizeof err);
    if (rc) {
        fprintf(stderr, "herd: %s\n", err);
        goto out;
    }
    if (st.help || st.help_markdown) {
        if (st.help)
            cfg_print_help(spec, stdout);
        else
            cfg_print_markdown(spec, stdout);
        exit_code = 0;
        goto out;
    }
    if (st.version) {
        printf("herd %s\n", HERD_VERSION);
        exit_code = 0;
        goto out;
    }
    if (st.n_positional) {
        fprintf(stderr, "herd: unexpected argument '%s' (see --help)\n", st.positional[0]);
        goto out;
    }
    enum log_level file_level, console_level;
    if (log_level_parse(s.log_level, &file_level) ||
        log_level_parse(s.console_log_level, &console_level)) {
        fprintf(stderr, "herd: log levels are debug, info, warn, error or off\n");
        goto out;
    }
    fsutil_expand_home(&s.data_dir);
    rc = fsutil_mkdir_p(s.data_dir);
    if (rc) {
        fprintf(stderr, "herd: cannot create the data directory %s: %s\n", s.data_dir,
                strerror(-rc));
        goto out;
    }
    char logs[4200];
    snprintf(logs, sizeof logs, "%s/logs", s.data_dir);
    struct log_options lo = {.program = "herd",
                             .stderr_level = console_level,
                             .file_level = file_level,
                             .dir = logs,
                             .file_name = "herd.jsonl",
                             .retention = 30};
    if (log_open(&lo) != 0)
        LOG_WARN("cannot write the log file in %s; logging to stderr only", logs);

    base = event_base_new();
    if (!base)
        goto out;
    c = coord_new(base, &s, err, sizeof err);
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
    /* Tests and scripts that ask for port 0 read the port from stdout. */
    printf("herd listening on port %d\n", port);
    fflush(stdout);
    if (s.mdns)
        mdns = advertise(base, &s, port, &advert);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, c);
    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, c);
    event_add(sigint, NULL);
    event_add(sigterm, NULL);
    event_base_dispatch(base);
    event_free(sigint);
    event_free(sigterm);
    if (drain_check)
        event_free(drain_check);
    exit_code = 0;

out:
    mdns_service_free(advert);
    mdns_free(mdns);
    coord_free(c);
    if (base)
        event_base_free(base);
    cfg_status_free(&st);
    cfg_free(spec, &s);
    log_close();
    return exit_code;
}
