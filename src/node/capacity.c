/* capacity: the weekly availability model. */
#include "node/capacity.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <time.h>

#define HALF_LIFE_S (15.0 * 86400.0)
#define HIGH_CPU_PCT 85.0
#define HIGH_CPU_PAUSE_S 120.0
#define TREND_WINDOW_S 120.0
/* Hours of decayed history after which a slot's own history is fully trusted: about three
 * weekly occurrences of that hour. */
#define CONFIDENT_HOURS 1.5
/* Longest gap one observation stands for (a sleeping laptop is not "observed" all night). */
#define MAX_SAMPLE_S 60.0

static double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

int capacity_slot_index(double epoch)
{
    time_t t = (time_t)epoch;
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return 0;
    int monday_based = (tm.tm_wday + 6) % 7;
    return monday_based * 24 + tm.tm_hour;
}

void capacity_init(struct capacity *c)
{
    memset(c, 0, sizeof *c);
}

/* Decays a slot's sums to time now. */
static void slot_decay(struct cap_slot *s, double now)
{
    if (s->updated > 0 && now > s->updated) {
        double f = exp(-M_LN2 * (now - s->updated) / HALF_LIFE_S);
        s->cpu_sum *= f;
        s->mem_sum *= f;
        s->hours *= f;
    }
    if (now > s->updated)
        s->updated = now;
}

void capacity_observe(struct capacity *c, double now, double cpu_pct, double mem_pct)
{
    cpu_pct = clampd(cpu_pct, 0, 100);
    mem_pct = clampd(mem_pct, 0, 100);
    double dt = c->last_observation > 0 ? now - c->last_observation : 5.0;
    dt = clampd(dt, 0, MAX_SAMPLE_S);
    struct cap_slot *s = &c->slots[capacity_slot_index(now)];
    slot_decay(s, now);
    double w = dt / 3600.0;
    s->cpu_sum += cpu_pct * w;
    s->mem_sum += mem_pct * w;
    s->hours += w;
    if (c->first_observation <= 0)
        c->first_observation = now;
    c->last_observation = now;
    c->last_mem_pct = mem_pct;
    c->observations++;

    if (cpu_pct > HIGH_CPU_PCT) {
        if (c->high_cpu_since <= 0)
            c->high_cpu_since = now;
    } else {
        c->high_cpu_since = 0;
    }
    c->recent[c->recent_head] = (struct cap_sample){now, cpu_pct};
    c->recent_head = (c->recent_head + 1) % CAP_RECENT_MAX;
    if (c->n_recent < CAP_RECENT_MAX)
        c->n_recent++;
}

void capacity_slot_history(const struct capacity *c, int slot, double now, double *mean_cpu,
                           double *hours)
{
    struct cap_slot s = c->slots[slot];
    slot_decay(&s, now);
    *hours = s.hours;
    *mean_cpu = s.hours > 1e-9 ? s.cpu_sum / s.hours : 0;
}

/* The most recent CPU sample, and the change of CPU over the last two minutes: the mean of the
 * newer half minus the older half, over 50, in -1..1 (rising load is positive). */
static void recent_cpu(const struct capacity *c, double now, double *current, double *trend)
{
    struct cap_sample w[CAP_RECENT_MAX];
    int n = 0;
    /* Oldest first. */
    for (int i = 0; i < c->n_recent; i++) {
        int idx = (c->recent_head - c->n_recent + i + CAP_RECENT_MAX) % CAP_RECENT_MAX;
        if (now - c->recent[idx].t <= TREND_WINDOW_S)
            w[n++] = c->recent[idx];
    }
    *current = n ? w[n - 1].cpu : 0;
    *trend = 0;
    if (n < 4)
        return;
    double a = 0, b = 0;
    int half = n / 2;
    for (int i = 0; i < half; i++)
        a += w[i].cpu;
    for (int i = half; i < n; i++)
        b += w[i].cpu;
    *trend = clampd((b / (n - half) - a / half) / 50.0, -1, 1);
}

void capacity_map_score(struct cap_decision *d, double total_gb, double hist_cpu)
{
    double s = d->score;
    if (s < 0.2) {
        d->mode = "paused";
        d->ceiling_gb = 0;
        d->reason = hist_cpu > 60 ? "historically_busy_slot" : "currently_busy";
    } else if (s < 0.4) {
        d->mode = "learned_low";
        d->ceiling_gb = fmin(16, 0.125 * total_gb);
        d->reason = "low_availability";
    } else if (s < 0.6) {
        d->mode = "learned_medium";
        d->ceiling_gb = fmin(32, 0.25 * total_gb);
        d->reason = "moderate_availability";
    } else if (s < 0.8) {
        d->mode = "learned_high";
        d->ceiling_gb = fmin(64, 0.5 * total_gb);
        d->reason = "good_availability";
    } else {
        d->mode = "full";
        d->ceiling_gb = 0.8 * total_gb;
        d->reason = "high_availability";
    }
}

struct cap_decision capacity_decide(const struct capacity *c, double now, double mem_total_gb,
                                    const struct cap_override *o)
{
    struct cap_decision d = {0};
    double total = mem_total_gb > 0 ? mem_total_gb : 0;
    d.days_observed = c->first_observation > 0 ? fmax(0, now - c->first_observation) / 86400 : 0;

    /* How much history exists: the span observed, and how many slots have their own. */
    double slot_conf = 0;
    for (int i = 0; i < CAP_SLOTS; i++) {
        double cpu, hours;
        capacity_slot_history(c, i, now, &cpu, &hours);
        slot_conf += fmin(1, hours / CONFIDENT_HOURS);
    }
    d.learning_confidence = 0.6 * fmin(1, d.days_observed / 30) + 0.4 * (slot_conf / CAP_SLOTS);

    if (o && o->mode != CAP_OVERRIDE_NONE && (o->until <= 0 || now < o->until)) {
        d.override_active = true;
        d.reason = "manual_override";
        if (o->mode == CAP_OVERRIDE_FULL) {
            d.mode = "full";
            d.ceiling_gb = 0.8 * total;
            d.score = 1.0;
        } else {
            d.mode = "paused";
            d.ceiling_gb = 0;
            d.score = 0;
        }
        return d;
    }
    if (c->high_cpu_since > 0 && now - c->high_cpu_since >= HIGH_CPU_PAUSE_S) {
        d.mode = "paused";
        d.reason = "sustained_high_cpu";
        d.ceiling_gb = fmin(16, 0.1 * total);
        d.score = 0.1;
        return d;
    }

    int slot = capacity_slot_index(now);
    double hist_cpu, hours;
    capacity_slot_history(c, slot, now, &hist_cpu, &hours);
    double conf = fmin(1, hours / CONFIDENT_HOURS);
    double cur_cpu, cpu_trend;
    recent_cpu(c, now, &cur_cpu, &cpu_trend);
    double hist = fmax(0, 1 - hist_cpu / 100);
    double cur = fmax(0, 1 - 0.7 * cur_cpu / 100 - 0.3 * c->last_mem_pct / 100);
    double trend = clampd(0.5 - 0.5 * cpu_trend, 0, 1);
    d.score = clampd(hist * 0.4 * conf + cur * (0.4 + 0.4 * (1 - conf)) + trend * 0.2, 0, 1);
    capacity_map_score(&d, total, hist_cpu);
    return d;
}

json_t *capacity_decision_json(const struct cap_decision *d)
{
    return json_pack("{s:s, s:f, s:f, s:s, s:b, s:f, s:f}", "mode", d->mode, "ceiling_gb",
                     round(d->ceiling_gb * 100) / 100, "availability_score",
                     round(d->score * 1000) / 1000, "reason", d->reason, "override_active",
                     d->override_active, "learning_confidence",
                     round(d->learning_confidence * 1000) / 1000, "days_observed",
                     round(d->days_observed * 100) / 100);
}

json_t *capacity_to_json(const struct capacity *c)
{
    json_t *slots = json_array();
    for (int i = 0; i < CAP_SLOTS; i++) {
        const struct cap_slot *s = &c->slots[i];
        json_array_append_new(
            slots, json_pack("[f, f, f, f]", s->cpu_sum, s->mem_sum, s->hours, s->updated));
    }
    return json_pack("{s:i, s:f, s:f, s:o}", "version", 1, "first_observation",
                     c->first_observation, "last_observation", c->last_observation, "slots", slots);
}

int capacity_from_json(struct capacity *c, const json_t *o)
{
    capacity_init(c);
    const json_t *slots = json_object_get(o, "slots");
    json_t *ver = json_object_get(o, "version");
    if (!json_is_integer(ver) || json_integer_value(ver) != 1 || !json_is_array(slots) ||
        json_array_size(slots) != CAP_SLOTS)
        return -EINVAL;
    struct capacity tmp;
    capacity_init(&tmp);
    for (int i = 0; i < CAP_SLOTS; i++) {
        const json_t *s = json_array_get(slots, (size_t)i);
        double v[4];
        if (!json_is_array(s) || json_array_size(s) != 4)
            return -EINVAL;
        for (size_t k = 0; k < 4; k++) {
            const json_t *x = json_array_get(s, k);
            if (!json_is_number(x))
                return -EINVAL;
            v[k] = json_number_value(x);
            if (!isfinite(v[k]) || v[k] < 0)
                return -EINVAL;
        }
        tmp.slots[i] = (struct cap_slot){v[0], v[1], v[2], v[3]};
    }
    const json_t *first = json_object_get(o, "first_observation");
    const json_t *last = json_object_get(o, "last_observation");
    tmp.first_observation = json_is_number(first) ? json_number_value(first) : 0;
    tmp.last_observation = json_is_number(last) ? json_number_value(last) : 0;
    *c = tmp;
    return 0;
}

int cap_override_parse(const char *s, enum cap_override_mode *out)
{
    if (strcmp(s, "full") == 0)
        *out = CAP_OVERRIDE_FULL;
    else if (strcmp(s, "paused") == 0)
        *out = CAP_OVERRIDE_PAUSED;
    else if (strcmp(s, "auto") == 0)
        *out = CAP_OVERRIDE_NONE;
    else
        return -EINVAL;
    return 0;
}

json_t *cap_override_to_json(const struct cap_override *o)
{
    const char *m = o->mode == CAP_OVERRIDE_FULL     ? "full"
                    : o->mode == CAP_OVERRIDE_PAUSED ? "paused"
                                                     : "auto";
    return json_pack("{s:s, s:f}", "mode", m, "until", o->until);
}

int cap_override_from_json(struct cap_override *o, const json_t *v)
{
    *o = (struct cap_override){CAP_OVERRIDE_NONE, 0};
    const json_t *m = json_object_get(v, "mode");
    const json_t *u = json_object_get(v, "until");
    enum cap_override_mode mode;
    if (!json_is_string(m) || cap_override_parse(json_string_value(m), &mode) != 0)
        return -EINVAL;
    if (u && !json_is_number(u))
        return -EINVAL;
    o->mode = mode;
    o->until = u ? json_number_value(u) : 0;
    return 0;
}
