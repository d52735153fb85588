/* What herd-node reports: Ollama's answers parsed, the heartbeat document, the chip table, and
 * the DNS-SD TXT data of the coordinator's advertisement. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "net/mdns_txt.h"
#include "node/chip_table.h"
#include "node/heartbeat.h"
#include "common/ollama_state.h"

#define GIB 1073741824.0

/* As Ollama 0.12 answers /api/ps. */
static const char PS[] =
    "{\"models\":[{\"name\":\"qwen2.5:7b\",\"model\":\"qwen2.5:7b\",\"size\":6055874560,"
    "\"digest\":\"845dbda0ea48\",\"details\":{\"parent_model\":\"\",\"format\":\"gguf\","
    "\"family\":\"qwen2\",\"parameter_size\":\"7.6B\",\"quantization_level\":\"Q4_K_M\"},"
    "\"expires_at\":\"2026-11-22T18:51:04.27Z\",\"size_vram\":5368709120,"
    "\"context_length\":32768},"
    "{\"model\":\"nomic-embed-text:latest\",\"size\":285212672,\"size_vram\":0}]}";

static void ps_lists_loaded_models(void **state)
{
    (void)state;
    json_t *a = NULL;
    char err[128];
    assert_int_equal(ollama_parse_ps(PS, sizeof PS - 1, &a, err, sizeof err), 0);
    assert_int_equal(json_array_size(a), 2);
    json_t *m = json_array_get(a, 0);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "qwen2.5:7b");
    assert_float_equal(json_real_value(json_object_get(m, "size_gb")), 5.64, 1e-9);
    assert_float_equal(json_real_value(json_object_get(m, "size_vram_gb")), 5.0, 1e-9);
    assert_int_equal(json_integer_value(json_object_get(m, "context_length")), 32768);
    assert_string_equal(json_string_value(json_object_get(m, "parameter_size")), "7.6B");
    assert_string_equal(json_string_value(json_object_get(m, "quantization")), "Q4_K_M");
    /* "model" stands in for a missing "name"; absent fields stay absent. */
    m = json_array_get(a, 1);
    assert_string_equal(json_string_value(json_object_get(m, "name")), "nomic-embed-text:latest");
    assert_null(json_object_get(m, "context_length"));
    json_decref(a);

    static const char empty[] = "{\"models\":[]}";
    assert_int_equal(ollama_parse_ps(empty, sizeof empty - 1, &a, err, sizeof err), 0);
    assert_int_equal(json_array_size(a), 0);
    json_decref(a);
    static const char html[] = "<html>502 Bad Gateway</html>";
    assert_int_equal(ollama_parse_ps(html, sizeof html - 1, &a, err, sizeof err), -EINVAL);
    static const char wrong[] = "{\"models\":{}}";
    assert_int_equal(ollama_parse_ps(wrong, sizeof wrong - 1, &a, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "models"));
}

static void tags_and_version(void **state)
{
    (void)state;
    static const char tags[] =
        "{\"models\":[{\"name\":\"llama3.2:latest\",\"size\":2019393189,\"capabilities\":"
        "[\"completion\",\"tools\",7]},{\"name\":\"\"},{\"size\":1}]}";
    json_t *a = NULL;
    char err[128];
    assert_int_equal(ollama_parse_tags(tags, sizeof tags - 1, &a, err, sizeof err), 0);
    assert_int_equal(json_array_size(a), 1); /* entries without a name are dropped */
    json_t *m = json_array_get(a, 0);
    assert_float_equal(json_real_value(json_object_get(m, "size_gb")), 1.88, 1e-9);
    json_t *caps = json_object_get(m, "capabilities");
    assert_int_equal(json_array_size(caps), 2); /* only strings */
    json_decref(a);

    char v[32];
    static const char ver[] = "{\"version\":\"0.12.6\"}";
    assert_int_equal(ollama_parse_version(ver, sizeof ver - 1, v, sizeof v), 0);
    assert_string_equal(v, "0.12.6");
    static const char nover[] = "{\"version\":7}";
    assert_int_equal(ollama_parse_version(nover, sizeof nover - 1, v, sizeof v), -EINVAL);
}

static void heartbeat_has_what_is_known_and_nothing_else(void **state)
{
    (void)state;
    struct ollama_state os = {.up = true};
    char err[128];
    assert_int_equal(ollama_parse_ps(PS, sizeof PS - 1, &os.loaded, err, sizeof err), 0);
    os.available = json_array();
    snprintf(os.version, sizeof os.version, "0.12.6");
    struct sys_sample s = {.has_cpu = true,
                           .cores_physical = 8,
                           .cores_logical = 16,
                           .cpu_pct = 12.345,
                           .ollama_cpu_pct = -1,
                           .has_memory = true,
                           .mem_total_gb = 64,
                           .mem_used_gb = 20,
                           .mem_available_gb = 44,
                           .pressure = MEM_PRESSURE_WARN,
                           .pressure_source = "psi",
                           .n_gpus = 1};
    snprintf(s.arch, sizeof s.arch, "x86_64");
    snprintf(s.chip, sizeof s.chip, "AMD Ryzen 9 7950X + NVIDIA GeForce RTX 4090");
    s.gpus[0] = (struct sys_gpu){"NVIDIA GeForce RTX 4090", 23.99, 6.5, 35, -273};
    struct cap_decision cap = {.mode = "full",
                               .reason = "manual_override",
                               .ceiling_gb = 51.2,
                               .score = 1,
                               .override_active = true};
    struct hb_input in = {.node_id = "gpu-box",
                          .agent_version = "0.1.0",
                          .lan_ip = "10.0.0.7",
                          .ollama_host = "http://10.0.0.7:11434",
                          .timestamp = 1795392000.5,
                          .sys = &s,
                          .ollama = &os,
                          .num_parallel = 4,
                          .bandwidth_gbps = 1008,
                          .capacity = &cap};
    json_t *hb = heartbeat_build(&in);
    assert_string_equal(json_string_value(json_object_get(hb, "node_id")), "gpu-box");
    assert_false(json_boolean_value(json_object_get(hb, "draining")));
    json_t *cpu = json_object_get(hb, "cpu");
    assert_float_equal(json_real_value(json_object_get(cpu, "utilization_pct")), 12.35, 1e-9);
    assert_null(json_object_get(cpu, "ollama_pct")); /* unknown: left out, not zero */
    json_t *mem = json_object_get(hb, "memory");
    assert_string_equal(json_string_value(json_object_get(mem, "pressure")), "warn");
    assert_null(json_object_get(hb, "disk"));
    assert_null(json_object_get(hb, "thermal"));
    json_t *gpu = json_array_get(json_object_get(hb, "gpus"), 0);
    assert_float_equal(json_real_value(json_object_get(gpu, "vram_total_gb")), 23.99, 1e-9);
    assert_null(json_object_get(gpu, "temperature_c"));
    assert_float_equal(json_real_value(json_object_get(hb, "memory_bandwidth_gbps")), 1008, 0);
    json_t *ol = json_object_get(hb, "ollama");
    assert_true(json_boolean_value(json_object_get(ol, "ollama_up")));
    assert_int_equal(json_array_size(json_object_get(ol, "models_loaded")), 2);
    assert_int_equal(json_integer_value(json_object_get(ol, "num_parallel")), 4);
    assert_string_equal(json_string_value(json_object_get(hb, "ollama_version")), "0.12.6");
    assert_string_equal(json_string_value(json_object_get(json_object_get(hb, "capacity"), "mode")),
                        "full");
    json_decref(hb);

    /* Ollama down: the beat still goes, with no models and ollama_up false. */
    os.up = false;
    os.version[0] = '\0';
    in.sys = NULL;
    in.capacity = NULL;
    in.num_parallel = 0;
    in.bandwidth_gbps = 0;
    hb = heartbeat_build(&in);
    ol = json_object_get(hb, "ollama");
    assert_false(json_boolean_value(json_object_get(ol, "ollama_up")));
    assert_int_equal(json_array_size(json_object_get(ol, "models_loaded")), 0);
    assert_int_equal(json_array_size(json_object_get(ol, "models_available")), 0);
    assert_null(json_object_get(ol, "num_parallel"));
    assert_null(json_object_get(hb, "ollama_version"));
    assert_null(json_object_get(hb, "memory"));
    assert_null(json_object_get(hb, "capacity"));
    json_decref(hb);
    ollama_state_clear(&os);

    hb = heartbeat_draining("gpu-box", 5);
    assert_true(json_boolean_value(json_object_get(hb, "draining")));
    json_decref(hb);
}

static void chip_bandwidths(void **state)
{
    (void)state;
    assert_float_equal(chip_bandwidth_gbps("Apple M3 Ultra"), 819, 0);
    assert_float_equal(chip_bandwidth_gbps("apple  m2   max"), 400, 0);
    assert_float_equal(chip_bandwidth_gbps("Apple M4"), 120, 0);
    /* The GPU decides where there is one. */
    assert_float_equal(chip_bandwidth_gbps("AMD Ryzen 9 7950X + NVIDIA GeForce RTX 4090"), 1008, 0);
    assert_float_equal(chip_bandwidth_gbps("Intel Xeon + NVIDIA GeForce RTX 4070 Ti SUPER"), 504,
                       0);
    assert_float_equal(chip_bandwidth_gbps("NVIDIA H100 80GB HBM3"), 3350, 0);
    assert_float_equal(chip_bandwidth_gbps("AMD EPYC"), 0, 0);
    assert_float_equal(chip_bandwidth_gbps(""), 0, 0);
}

static void txt_records(void **state)
{
    (void)state;
    const char *pairs[] = {"version=0.1.0", "port=11435", "tls=0", "flag", NULL};
    unsigned char txt[256];
    size_t n = mdns_txt_build(pairs, txt, sizeof txt);
    assert_int_equal(n, 1 + 13 + 1 + 10 + 1 + 5 + 1 + 4);
    assert_int_equal(txt[0], 13);
    char v[32];
    assert_true(mdns_txt_get(txt, n, "PORT", v, sizeof v)); /* keys are case-insensitive */
    assert_string_equal(v, "11435");
    assert_true(mdns_txt_get(txt, n, "flag", v, sizeof v));
    assert_string_equal(v, "");
    assert_false(mdns_txt_get(txt, n, "tl", v, sizeof v));
    assert_false(mdns_txt_get(txt, n, "missing", v, sizeof v));
    /* A length running past the end stops the search instead of reading beyond it. */
    unsigned char bad[] = {5, 'a', '=', '1', 'b', '=', 40, 't', 'l', 's'};
    assert_true(mdns_txt_get(bad, sizeof bad, "a", v, sizeof v));
    assert_string_equal(v, "1b=");
    assert_false(mdns_txt_get(bad, sizeof bad, "tls", v, sizeof v));
    /* No pairs: the single empty string RFC 6763 asks for. */
    const char *none[] = {NULL};
    assert_int_equal(mdns_txt_build(none, txt, sizeof txt), 1);
    assert_int_equal(txt[0], 0);
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *too_long[] = {big, NULL};
    assert_int_equal(mdns_txt_build(too_long, txt, sizeof txt), 0);
    assert_int_equal(mdns_txt_build(pairs, txt, 10), 0); /* does not fit */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ps_lists_loaded_models),
        cmocka_unit_test(tags_and_version),
        cmocka_unit_test(heartbeat_has_what_is_known_and_nothing_else),
        cmocka_unit_test(chip_bandwidths),
        cmocka_unit_test(txt_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
