#include "coord/health.h"

#include <stdio.h>
#include <string.h>

static void add(json_t *checks, const char *id, const char *severity, const char *node,
                const char *title, const char *description, const char *fix)
{
    json_t *c = json_pack("{s:s, s:s, s:s, s:s, s:s}", "check_id", id, "severity", severity,
                          "title", title, "description", description, "fix", fix);
    if (node)
        json_object_set_new(c, "node_id", json_string(node));
    json_array_append_new(checks, c);
}

static void node_checks(json_t *checks, const struct health_node *n)
{
    char title[256], text[512];
    if (n->status == HEALTH_OFFLINE && !n->draining) {
        snprintf(title, sizeof title, "%s is offline", n->id);
        add(checks, "node_offline", "critical", n->id, title,
            "No heartbeat for longer than --heartbeat-offline; nothing is routed to it.",
            "Check that the machine is on and that herd-node runs there (systemctl status "
            "herd-node, or its log in ~/.fleet-manager/logs/herd-node.jsonl).");
        return;
    }
    if (n->status == HEALTH_DEGRADED) {
        snprintf(title, sizeof title, "%s is late with its heartbeats", n->id);
        add(checks, "node_degraded", "warning", n->id, title,
            "Its last heartbeat is older than --heartbeat-timeout; it is still routed to.",
            "Check the network between the machine and herd, and whether the machine is "
            "overloaded or asleep.");
    }
    if (n->reports_ollama && !n->ollama_up) {
        snprintf(title, sizeof title, "Ollama on %s does not answer", n->id);
        add(checks, "ollama_down", "critical", n->id, title,
            "herd-node reports that the machine's Ollama does not answer; its models are not "
            "offered.",
            "Start Ollama on that machine (systemctl start ollama, or ollama serve) and check "
            "--ollama-host of its herd-node.");
    }
    if (n->has_memory && n->pressure != HEALTH_PRESSURE_NORMAL) {
        bool crit = n->pressure == HEALTH_PRESSURE_CRITICAL;
        snprintf(title, sizeof title, "%s memory pressure on %s", crit ? "Critical" : "High",
                 n->id);
        add(checks, "memory_pressure", crit ? "critical" : "warning", n->id, title,
            crit ? "Programs on the machine are stalled waiting for memory; it is not routed to."
                 : "Programs on the machine wait for memory now and then; it scores lower.",
            "Unload models it does not need (keep_alive 0), lower OLLAMA_MAX_LOADED_MODELS or "
            "OLLAMA_NUM_PARALLEL there, or close other programs.");
    }
    if (n->disk_total_gb > 0 && n->disk_available_gb >= 0) {
        double share = n->disk_available_gb / n->disk_total_gb;
        if (share < 0.10 || n->disk_available_gb < 10) {
            bool crit = share < 0.03 || n->disk_available_gb < 2;
            snprintf(title, sizeof title, "Disk of the model store nearly full on %s", n->id);
            snprintf(text, sizeof text, "%.1f GB of %.0f GB free: the next pull may fail.",
                     n->disk_available_gb, n->disk_total_gb);
            add(checks, "disk_nearly_full", crit ? "critical" : "warning", n->id, title, text,
                "Delete models nobody uses there (ollama rm, or Recommendations > model "
                "management) or give the model store a larger disk.");
        }
    }
}

json_t *health_report(const struct health_node *nodes, size_t n, const struct health_traffic *t,
                      double now)
{
    json_t *checks = json_array();
    int online = 0;
    const char *version = NULL;
    bool mismatch = false;
    for (size_t i = 0; i < n; i++) {
        node_checks(checks, &nodes[i]);
        if (nodes[i].status == HEALTH_OFFLINE)
            continue;
        online++;
        const char *v = nodes[i].ollama_version;
        if (v && *v) {
            if (version && strcmp(version, v) != 0)
                mismatch = true;
            if (!version)
                version = v;
        }
    }
    char text[512];
    if (mismatch) {
        snprintf(text, sizeof text, "Not every node runs the same Ollama (one runs %s).", version);
        add(checks, "version_mismatch", "warning", NULL, "Ollama versions differ across nodes",
            text,
            "Update Ollama on every machine to the same version: models and options behave "
            "differently across versions.");
    }
    if (t->vram_fallbacks > 0) {
        snprintf(text, sizeof text,
                 "%ld requests in the last hour were answered by another loaded model to avoid "
                 "a cold load.",
                 t->vram_fallbacks);
        add(checks, "vram_fallback_active", "notice", NULL, "VRAM fallback is answering requests",
            text,
            "If the models asked for matter, keep them loaded on a node with room (pull them to "
            "more nodes, or raise keep_alive), or turn VRAM fallback off in Settings.");
    }
    if (t->context_actions > 0) {
        snprintf(text, sizeof text,
                 "%ld requests in the last hour asked for a context size that would reload the "
                 "model; context protection acted.",
                 t->context_actions);
        add(checks, "context_protection_active", "notice", NULL, "Context protection is acting",
            text,
            "Have the clients stop sending options.num_ctx, or load the model with the context "
            "they need (OLLAMA_CONTEXT_LENGTH on the node).");
    }
    if (t->reaped > 0) {
        snprintf(text, sizeof text,
                 "%ld requests in the last hour were cancelled because their node sent nothing "
                 "for --stale-timeout.",
                 t->reaped);
        add(checks, "zombie_reaper_active", t->reaped > 10 ? "critical" : "warning", NULL,
            "Requests got stuck on nodes", text,
            "Look at those nodes' Ollama logs for hung runners; restart Ollama there if it "
            "keeps happening.");
    }
    double error_rate = t->requests > 0 ? (double)t->failed / (double)t->requests : 0;
    if (t->requests >= 20 && error_rate >= 0.05) {
        snprintf(text, sizeof text, "%.0f %% of the %ld requests in the last hour failed.",
                 100 * error_rate, t->requests);
        add(checks, "high_error_rate", error_rate >= 0.25 ? "critical" : "warning", NULL,
            "Many requests fail", text,
            "Open Trends and the traces (/dashboard/api/traces) to see which models and nodes "
            "fail, and why.");
    }
    double retry_rate = t->requests > 0 ? (double)t->retried / (double)t->requests : 0;
    if (t->requests >= 20 && retry_rate >= 0.3) {
        snprintf(text, sizeof text,
                 "%.2f retries per request in the last hour: nodes fail before their first "
                 "token.",
                 retry_rate);
        add(checks, "high_retry_rate", "warning", NULL, "Many requests are retried", text,
            "Find the node that fails first in the traces (excluded_nodes) and check its Ollama.");
    }
    if (t->thrash_loads >= 3) {
        snprintf(text, sizeof text,
                 "%s was loaded cold %ld times in the last hour (first token after 40 s).",
                 t->thrash_model, t->thrash_loads);
        add(checks, "model_thrashing", "warning", NULL, "A model keeps being reloaded", text,
            "Give it a node where it can stay loaded: raise keep_alive or "
            "OLLAMA_MAX_LOADED_MODELS there, or pull it to a machine with more memory.");
    }
    int score = 100;
    size_t i;
    json_t *c;
    bool any_critical = false, any_warning = false;
    json_array_foreach (checks, i, c) {
        const char *sev = json_string_value(json_object_get(c, "severity"));
        if (strcmp(sev, "critical") == 0) {
            score -= 20;
            any_critical = true;
        } else if (strcmp(sev, "warning") == 0) {
            score -= 10;
            any_warning = true;
        } else {
            score -= 3;
        }
    }
    if (score < 0)
        score = 0;
    json_t *vitals =
        json_pack("{s:i, s:i, s:I, s:f, s:f, s:I, s:I}", "nodes_online", online, "nodes_total",
                  (int)n, "requests_last_hour", (json_int_t)t->requests, "error_rate", error_rate,
                  "retry_rate", retry_rate, "vram_fallbacks_last_hour",
                  (json_int_t)t->vram_fallbacks, "reaped_last_hour", (json_int_t)t->reaped);
    return json_pack("{s:i, s:s, s:o, s:o, s:f}", "score", score, "status",
                     any_critical  ? "critical"
                     : any_warning ? "warning"
                                   : "healthy",
                     "checks", checks, "vitals", vitals, "checked_at", now);
}
