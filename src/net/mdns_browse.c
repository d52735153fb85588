#include "net/mdns_browse.h"
#include "net/mdns_lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"

#define RETRY_FIRST_S 1.0
#define RETRY_MAX_S 30.0
#define QUESTIONS_MAX 256

struct entry {
    bool used;
    char full[256]; /* "NAME._fleet-manager._tcp.local." */
    struct mdns_instance inst;
    bool has_srv, has_ip;
    bool gone;        /* its PTR was withdrawn or expired */
    bool reported;    /* the owner was last told UP */
    bool changed;     /* address, port or TXT changed since */
    bool asked;       /* SRV and TXT questions registered */
    char a_host[256]; /* host whose A question is registered for it, "" none */
};

struct registered {
    char name[256];
    int type;
};

struct mdns_browse {
    struct mdns *m;
    struct registered questions[QUESTIONS_MAX];
    size_t n_questions;
    bool warned_full;
    char type[128];
    mdns_browse_cb cb;
    void *arg;
    struct entry e[MDNS_BROWSE_MAX];
    struct event *work;  /* deferred: libmdnsd calls us while it parses */
    struct event *retry; /* asks again while nothing is resolved */
    double interval;
    bool in_work;
    bool dead; /* freed by the owner's callback while in_work */
};

static bool same_name(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

static void later(struct mdns_browse *b)
{
    event_active(b->work, 0, 0);
}

static struct entry *by_full(struct mdns_browse *b, const char *full)
{
    for (int i = 0; i < MDNS_BROWSE_MAX; i++)
        if (b->e[i].used && same_name(b->e[i].full, full))
            return &b->e[i];
    return NULL;
}

/* "NAME._fleet-manager._tcp.local." → "NAME"; false when full is not of our type. */
static bool instance_label(const struct mdns_browse *b, const char *full, char *out, size_t outlen)
{
    size_t n = strlen(full), t = strlen(b->type);
    if (n <= t + 1 || full[n - t - 1] != '.' || !same_name(full + n - t, b->type))
        return false;
    snprintf(out, outlen, "%.*s", (int)(n - t - 1), full);
    return true;
}

static int ignore(mdns_answer_t *a, void *arg)
{
    (void)a;
    (void)arg;
    return 0;
}

static int on_ptr(mdns_answer_t *a, void *arg)
{
    struct mdns_browse *b = arg;
    if (!a->rdname)
        return 0;
    struct entry *e = by_full(b, a->rdname);
    if (a->ttl == 0) {
        if (e)
            e->gone = true;
    } else if (e) {
        e->gone = false;
    } else {
        char label[80];
        if (!instance_label(b, a->rdname, label, sizeof label))
            return 0;
        for (int i = 0; i < MDNS_BROWSE_MAX && !e; i++)
            if (!b->e[i].used)
                e = &b->e[i];
        if (!e) {
            LOG_WARN("mDNS: more than %d instances of %s; ignoring '%s'", MDNS_BROWSE_MAX, b->type,
                     label);
            return 0;
        }
        memset(e, 0, sizeof *e);
        e->used = true;
        snprintf(e->full, sizeof e->full, "%s", a->rdname);
        snprintf(e->inst.name, sizeof e->inst.name, "%s", label);
        LOG_DEBUG("mDNS: found '%s'", label);
    }
    later(b);
    return 0;
}

static int on_srv(mdns_answer_t *a, void *arg)
{
    struct mdns_browse *b = arg;
    struct entry *e = by_full(b, a->name);
    if (!e || !a->rdname)
        return 0;
    bool same = e->has_srv && e->inst.port == a->srv.port && same_name(e->inst.host, a->rdname);
    if (a->ttl == 0) {
        /* A replaced record expires just before its successor arrives: only ours counts. */
        if (same)
            e->has_srv = false;
    } else if (!same) {
        snprintf(e->inst.host, sizeof e->inst.host, "%s", a->rdname);
        e->inst.port = a->srv.port;
        e->has_srv = true;
        e->has_ip = false; /* the host may have changed: resolve it again */
        e->changed = true;
    }
    later(b);
    return 0;
}

static int on_txt(mdns_answer_t *a, void *arg)
{
    struct mdns_browse *b = arg;
    struct entry *e = by_full(b, a->name);
    if (!e || a->ttl == 0)
        return 0;
    size_t n = a->rdlen < sizeof e->inst.txt ? a->rdlen : sizeof e->inst.txt;
    if (a->rdata && (n != e->inst.txt_len || memcmp(e->inst.txt, a->rdata, n) != 0)) {
        memcpy(e->inst.txt, a->rdata, n);
        e->inst.txt_len = n;
        e->changed = true;
        later(b);
    }
    return 0;
}

static int on_a(mdns_answer_t *a, void *arg)
{
    struct mdns_browse *b = arg;
    for (int i = 0; i < MDNS_BROWSE_MAX; i++) {
        struct entry *e = &b->e[i];
        if (!e->used || !e->has_srv || !same_name(e->inst.host, a->name))
            continue;
        bool same = e->has_ip && e->inst.ip.s_addr == a->ip.s_addr;
        if (a->ttl == 0) {
            if (same)
                e->has_ip = false;
        } else if (!same) {
            e->inst.ip = a->ip;
            e->has_ip = true;
            e->changed = true;
        }
    }
    later(b);
    return 0;
}

/* libmdnsd cannot drop a question safely (0.12 corrupts memory in _q_done), so questions
 * stay registered for the life of the endpoint; an answer nobody wants any more is ignored
 * by the callbacks. Their number is bounded here. */
enum question_state { Q_NEW, Q_KNOWN, Q_FULL };

static enum question_state question(struct mdns_browse *b, const char *name, int type,
                                    int (*answer)(mdns_answer_t *, void *))
{
    for (size_t i = 0; i < b->n_questions; i++)
        if (b->questions[i].type == type && same_name(b->questions[i].name, name))
            return Q_KNOWN;
    if (b->n_questions == QUESTIONS_MAX) {
        if (!b->warned_full)
            LOG_WARN("mDNS: more than %d names to resolve; ignoring new ones", QUESTIONS_MAX);
        b->warned_full = true;
        return Q_FULL;
    }
    struct registered *q = &b->questions[b->n_questions++];
    snprintf(q->name, sizeof q->name, "%s", name);
    q->type = type;
    mdns_daemon_t *d = mdns_daemon(b->m);
    mdnsd_query(d, q->name, type, answer, b);
    /* Records that came before the question (the additional records of a PTR answer) are
     * cached but never passed to it; and since our question lists them as known answers,
     * nobody will send them again. */
    for (mdns_answer_t *a = mdnsd_list(d, q->name, type, NULL); a;
         a = mdnsd_list(d, q->name, type, a))
        answer(a, b);
    return Q_NEW;
}

/* Makes sure the entry's questions are registered; asks again what is still unanswered when
 * again is set (libmdnsd gives up after three tries). A question registered before (for an
 * instance that went and came back) is asked explicitly, since only new answers call back. */
static void ask(struct mdns_browse *b, struct entry *e, bool again)
{
    if (!e->asked) {
        enum question_state s1 = question(b, e->full, QTYPE_SRV, on_srv);
        enum question_state s2 = question(b, e->full, QTYPE_TXT, on_txt);
        if (s1 == Q_FULL || s2 == Q_FULL)
            return;
        e->asked = true;
        if (s1 == Q_KNOWN || s2 == Q_KNOWN) {
            mdns_ask(b->m, e->full, QTYPE_SRV);
            mdns_ask(b->m, e->full, QTYPE_TXT);
        }
    } else if (again && !e->has_srv) {
        mdns_ask(b->m, e->full, QTYPE_SRV);
        mdns_ask(b->m, e->full, QTYPE_TXT);
    }
    if (!e->has_srv)
        return;
    if (!same_name(e->a_host, e->inst.host)) {
        enum question_state s = question(b, e->inst.host, QTYPE_A, on_a);
        if (s == Q_FULL)
            return;
        snprintf(e->a_host, sizeof e->a_host, "%s", e->inst.host);
        if (s == Q_KNOWN)
            mdns_ask(b->m, e->a_host, QTYPE_A);
    } else if (again && !e->has_ip) {
        mdns_ask(b->m, e->a_host, QTYPE_A);
    }
}

static void emit(struct mdns_browse *b, enum mdns_browse_event ev, struct entry *e)
{
    struct mdns_instance copy = e->inst; /* the callback may free b */
    b->cb(ev, &copy, b->arg);
}

static void on_work(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mdns_browse *b = arg;
    b->in_work = true;
    for (int i = 0; i < MDNS_BROWSE_MAX && !b->dead; i++) {
        struct entry *e = &b->e[i];
        if (!e->used)
            continue;
        if (e->gone) {
            LOG_DEBUG("mDNS: '%s' withdrawn", e->inst.name);
            bool was = e->reported;
            struct mdns_instance inst = e->inst;
            memset(e, 0, sizeof *e);
            if (was)
                b->cb(MDNS_INSTANCE_GONE, &inst, b->arg);
            continue;
        }
        ask(b, e, false);
        bool complete = e->has_srv && e->has_ip;
        if (complete && (e->changed || !e->reported)) {
            e->reported = true;
            e->changed = false;
            emit(b, MDNS_INSTANCE_UP, e);
        } else if (!complete && e->reported) {
            e->reported = false;
            emit(b, MDNS_INSTANCE_GONE, e);
        }
    }
    b->in_work = false;
    if (b->dead) {
        mdns_browse_free(b);
        return;
    }
    mdns_kick(b->m);
}

static bool any_resolved(const struct mdns_browse *b)
{
    for (int i = 0; i < MDNS_BROWSE_MAX; i++)
        if (b->e[i].used && b->e[i].reported)
            return true;
    return false;
}

static void arm_retry(struct mdns_browse *b)
{
    double s = b->interval;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (double)(time_t)s) * 1e6)};
    evtimer_add(b->retry, &tv);
}

static void ask_again(struct mdns_browse *b)
{
    mdns_ask(b->m, b->type, QTYPE_PTR);
    for (int i = 0; i < MDNS_BROWSE_MAX; i++)
        if (b->e[i].used && !b->e[i].gone)
            ask(b, &b->e[i], true);
    mdns_kick(b->m);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mdns_browse *b = arg;
    if (any_resolved(b)) {
        b->interval = RETRY_MAX_S; /* libmdnsd refreshes what it has; just look now and then */
    } else {
        ask_again(b);
        b->interval = b->interval * 2 < RETRY_MAX_S ? b->interval * 2 : RETRY_MAX_S;
    }
    arm_retry(b);
}

struct mdns_browse *mdns_browse_new(struct mdns *m, const char *type, mdns_browse_cb cb, void *arg)
{
    struct mdns_browse *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->m = m;
    b->cb = cb;
    b->arg = arg;
    snprintf(b->type, sizeof b->type, "%s.local.", type);
    b->work = event_new(mdns_base(m), -1, 0, on_work, b);
    b->retry = evtimer_new(mdns_base(m), on_retry, b);
    if (!b->work || !b->retry) {
        mdns_browse_free(b);
        return NULL;
    }
    question(b, b->type, QTYPE_PTR, on_ptr);
    mdns_kick(m);
    b->interval = RETRY_FIRST_S;
    arm_retry(b);
    return b;
}

void mdns_browse_refresh(struct mdns_browse *b)
{
    ask_again(b);
    b->interval = RETRY_FIRST_S;
    arm_retry(b);
}

void mdns_browse_free(struct mdns_browse *b)
{
    if (!b)
        return;
    if (b->in_work) {
        b->dead = true;
        return;
    }
    /* The questions outlive the browser: point them where nothing happens. */
    for (size_t i = 0; i < b->n_questions; i++)
        mdnsd_query(mdns_daemon(b->m), b->questions[i].name, b->questions[i].type, ignore, NULL);
    if (b->work)
        event_free(b->work);
    if (b->retry)
        event_free(b->retry);
    free(b);
}
