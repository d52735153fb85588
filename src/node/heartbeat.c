/* heartbeat: assembling the heartbeat document. */
#include "node/heartbeat.h"

#include <math.h>

static json_t *num2(double v)
{
    return json_real(round(v * 100) / 100);
}

static json_t *sys_cpu(const struct sys_sample *s)
{
    json_t *o = json_pack("{s:i, s:i}", "cores_physical", s->cores_physical, "cores_logical",
                          s->cores_logical);
    if (s->cpu_pct >= 0)
        json_object_set_new(o, "utilization_pct", num2(s->cpu_pct));
    if (s->ollama_cpu_pct >= 0)
        json_object_set_new(o, "ollama_pct", num2(s->ollama_cpu_pct));
    return o;
}

static json_t *sys_gpus(const struct sys_sample *s)
{
    json_t *a = json_array();
    for (int i = 0; i < s->n_gpus; i++) {
        const struct sys_gpu *g = &s->gpus[i];
        json_t *o = json_pack("{s:s, s:o, s:o}", "name", g->name, "vram_total_gb",
                              num2(g->vram_total_gb), "vram_used_gb", num2(g->vram_used_gb));
        if (g->util_pct >= 0)
            json_object_set_new(o, "utilization_pct", num2(g->util_pct));
        if (g->temp_c > -100)
            json_object_set_new(o, "temperature_c", num2(g->temp_c));
        json_array_append_new(a, o);
    }
    return a;
}

static void add_sys(json_t *hb, const struct sys_sample *s)
{
    if (s->arch[0])
        json_object_set_new(hb, "arch", json_string(s->arch));
    if (s->chip[0])
        json_object_set_new(hb, "chip", json_string(s->chip));
    if (s->has_cpu)
        json_object_set_new(hb, "cpu", sys_cpu(s));
    if (s->has_memory)
        json_object_set_new(hb, "memory",
                            json_pack("{s:o, s:o, s:o, s:s, s:s}", "total_gb",
                                      num2(s->mem_total_gb), "used_gb", num2(s->mem_used_gb),
                                      "available_gb", num2(s->mem_available_gb), "pressure",
                                      mem_pressure_name(s->pressure), "pressure_source",
                                      s->pressure_source ? s->pressure_source : "used"));
    if (s->has_disk)
        json_object_set_new(hb, "disk",
                            json_pack("{s:s, s:o, s:o, s:o}", "path", s->disk_path, "total_gb",
                                      num2(s->disk_total_gb), "used_gb", num2(s->disk_used_gb),
                                      "available_gb", num2(s->disk_available_gb)));
    if (s->has_thermal)
        json_object_set_new(hb, "thermal",
                            json_pack("{s:s, s:o, s:s}", "state", thermal_state(s->temp_c),
                                      "temperature_c", json_real(round(s->temp_c * 10) / 10),
                                      "source", s->temp_source));
    if (s->n_gpus > 0)
        json_object_set_new(hb, "gpus", sys_gpus(s));
}

static json_t *ollama_block(const struct hb_input *in)
{
    const struct ollama_state *o = in->ollama;
    json_t *b =
        json_pack("{s:b, s:o, s:o}", "ollama_up", o->up, "models_loaded",
                  o->up && o->loaded ? json_incref(o->loaded) : json_array(), "models_available",
                  o->up && o->available ? json_incref(o->available) : json_array());
    if (o->version[0])
        json_object_set_new(b, "version", json_string(o->version));
    if (o->up && o->tags_digest[0])
        json_object_set_new(b, "tags_digest", json_string(o->tags_digest));
    if (in->num_parallel > 0)
        json_object_set_new(b, "num_parallel", json_integer(in->num_parallel));
    return b;
}

json_t *heartbeat_build(const struct hb_input *in)
{
    json_t *hb = json_pack("{s:s, s:f, s:s, s:b, s:i, s:i}", "node_id", in->node_id, "timestamp",
                           in->timestamp, "agent_version", in->agent_version, "draining", 0,
                           "connection_failures", (int)in->connection_failures,
                           "connection_failures_total", (int)in->connection_failures_total);
    if (in->sys)
        add_sys(hb, in->sys);
    if (in->bandwidth_gbps > 0)
        json_object_set_new(hb, "memory_bandwidth_gbps", json_real(in->bandwidth_gbps));
    if (in->lan_ip && *in->lan_ip)
        json_object_set_new(hb, "lan_ip", json_string(in->lan_ip));
    if (in->ollama_host && *in->ollama_host)
        json_object_set_new(hb, "ollama_host", json_string(in->ollama_host));
    json_object_set_new(hb, "ollama", ollama_block(in));
    if (in->ollama->version[0])
        json_object_set_new(hb, "ollama_version", json_string(in->ollama->version));
    if (in->capacity)
        json_object_set_new(hb, "capacity", capacity_decision_json(in->capacity));
    return hb;
}

json_t *heartbeat_draining(const char *node_id, double timestamp)
{
    return json_pack("{s:s, s:b, s:f}", "node_id", node_id, "draining", 1, "timestamp", timestamp);
}
