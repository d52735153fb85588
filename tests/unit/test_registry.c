#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "coord/model_class.h"
#include "coord/registry.h"

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!v)
        fail_msg("bad test JSON: %s", je.text);
    return v;
}

static const char *full_beat =
    "{\"node_id\":\"studio\",\"arch\":\"apple_silicon\",\"timestamp\":1.0,"
    "\"cpu\":{\"cores_physical\":24,\"utilization_pct\":12.5},"
    "\"memory\":{\"total_gb\":192,\"used_gb\":60,\"available_gb\":132,\"pressure\":\"warn\","
    "\"wired_gb\":0,\"compressed_gb\":0},"
    "\"thermal\":{\"state\":\"nominal\"},\"disk\":{\"total_gb\":1000,\"used_gb\":1,"
    "\"available_gb\":999},"
    "\"ollama\":{\"models_loaded\":[{\"name\":\"llama3.3:70b\",\"size_gb\":42.5,"
    "\"context_length\":16384,\"requests_active\":0}],"
    "\"models_available\":[\"llama3.3:70b\",\"Qwen2.5:7b\",\"nomic-embed-text\"],"
    "\"num_parallel\":4,\"requests_active\":0},"
    "\"ollama_host\":\"http://192.168.1.10:11434\",\"lan_ip\":\"192.168.1.10\","
    "\"draining\":false,\"chip\":\"Apple M3 Ultra\",\"memory_bandwidth_gbps\":819,"
    "\"capacity\":{\"mode\":\"full\",\"ceiling_gb\":100,\"availability_score\":0.9},"
    "\"ollama_version\":\"0.12.6\",\"unknown_future_field\":{\"x\":1}}";

static void full_heartbeat_is_parsed(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, 15, 30);
    json_t *b = load(full_beat);
    char err[256] = "";
    struct node *n = NULL;
    assert_int_equal(registry_heartbeat(&r, b, "192.168.1.10", 1000, &n, err, sizeof err), 0);
    assert_non_null(n);
    assert_string_equal(n->id, "studio");
    assert_int_equal(n->status, NODE_ONLINE);
    assert_string_equal(n->url, "http://192.168.1.10:11434");
    assert_true(n->has_memory && n->has_cpu && n->has_ollama && n->ollama_up);
    assert_true(n->mem_available_gb == 132);
    assert_int_equal(n->pressure, PRESSURE_WARN);
    assert_int_equal(n->cores, 24);
    assert_true(n->bandwidth_gbps == 819);
    assert_int_equal(n->num_parallel, 4);
    assert_string_equal(n->ollama_version, "0.12.6");
    assert_int_equal(n->n_loaded, 1);
    assert_int_equal(n->loaded[0].context_length, 16384);
    assert_true(node_has_model(n, "qwen2.5:7b"));              /* normalised */
    assert_true(node_has_model(n, "nomic-embed-text:latest")); /* tag added */
    assert_non_null(node_loaded_model(n, "llama3.3:70b"));
    assert_null(node_loaded_model(n, "qwen2.5:7b"));
    assert_true(node_available_gb(n) == 100); /* capped by the capacity ceiling */
    json_decref(b);
    registry_free(&r);
}

static void url_follows_where_the_beat_came_from(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, 15, 30);
    char err[256];
    struct node *n;
    json_t *b = load("{\"node_id\":\"a\",\"ollama_host\":\"http://localhost:11501\","
                     "\"lan_ip\":\"10.0.0.5\",\"ollama\":{}}");
    assert_int_equal(registry_heartbeat(&r, b, "127.0.0.1", 1, &n, err, sizeof err), 0);
    assert_string_equal(n->url, "http://127.0.0.1:11501"); /* same machine */
    assert_int_equal(registry_heartbeat(&r, b, "10.0.0.5", 2, &n, err, sizeof err), 0);
    assert_string_equal(n->url, "http://10.0.0.5:11501"); /* LAN address, Ollama's port */
    json_decref(b);
    b = load("{\"node_id\":\"b\",\"ollama\":{}}");
    assert_int_equal(registry_heartbeat(&r, b, "10.0.0.7", 2, &n, err, sizeof err), 0);
    assert_string_equal(n->url, "http://10.0.0.7:11434"); /* defaults */
    json_decref(b);
    registry_free(&r);
}

static void expect_rejected(const char *payload, const char *needle)
{
    struct registry r;
    registry_init(&r, 15, 30);
    json_t *b = load(payload);
    char err[256] = "";
    assert_int_equal(registry_heartbeat(&r, b, "127.0.0.1", 1, NULL, err, sizeof err), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("'%s' does not mention '%s'", err, needle);
    assert_int_equal(r.n, 0);
    json_decref(b);
    registry_free(&r);
}

static void malformed_heartbeats_are_rejected_with_a_reason(void **state)
{
    (void)state;
    expect_rejected("[]", "JSON object");
    expect_rejected("{}", "node_id is required");
    expect_rejected("{\"node_id\":\"\"}", "node_id must be");
    expect_rejected("{\"node_id\":\"a b\"}", "node_id must be");
    expect_rejected("{\"node_id\":\"a\",\"memory\":{\"total_gb\":\"lots\"}}",
                    "memory.total_gb must be a number");
    expect_rejected("{\"node_id\":\"a\",\"memory\":{\"pressure\":\"dire\"}}", "memory.pressure");
    expect_rejected("{\"node_id\":\"a\",\"ollama\":{\"models_loaded\":{}}}",
                    "ollama.models_loaded must be an array");
    expect_rejected("{\"node_id\":\"a\",\"ollama\":{\"models_loaded\":[{\"size_gb\":1}]}}",
                    "need a valid name");
    expect_rejected("{\"node_id\":\"a\",\"ollama\":{\"models_available\":[1]}}",
                    "must be names or objects with a name");
    expect_rejected("{\"node_id\":\"a\",\"draining\":\"yes\"}", "draining must be a boolean");
    expect_rejected("{\"node_id\":\"a\",\"cpu\":5}", "cpu must be an object");
}

static void available_models_may_carry_size_and_capabilities(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, 15, 30);
    json_t *b = load("{\"node_id\":\"a\",\"ollama\":{"
                     "\"models_loaded\":[{\"name\":\"llama3.1:8b\",\"size_gb\":5}],"
                     "\"models_available\":[{\"name\":\"llama3.1:8b\",\"size_gb\":4.9,"
                     "\"capabilities\":[\"completion\",\"tools\"]},"
                     "{\"model\":\"nomic-embed-text\",\"capabilities\":[\"embedding\"]},"
                     "\"phi4\"]}}");
    char err[256] = "";
    struct node *n = NULL;
    assert_int_equal(registry_heartbeat(&r, b, "127.0.0.1", 1, &n, err, sizeof err), 0);
    assert_int_equal(n->n_available, 3);
    assert_true(n->available[0].size_gb == 4.9);
    /* The loaded model has the capabilities its entry on disk reports. */
    assert_int_equal(node_model_caps(n, "llama3.1:8b"), MCAP_KNOWN | MCAP_COMPLETION | MCAP_TOOLS);
    assert_int_equal(node_model_caps(n, "nomic-embed-text:latest"), MCAP_KNOWN | MCAP_EMBEDDING);
    assert_int_equal(node_model_caps(n, "phi4:latest"), 0u); /* a bare name: unknown */
    /* A pull adds a model before the next heartbeat; adding it twice changes nothing. */
    assert_false(node_has_model(n, "qwen3:8b"));
    assert_int_equal(node_add_available(n, "qwen3:8b"), 0);
    assert_int_equal(node_add_available(n, "qwen3:8b"), 0);
    assert_int_equal(n->n_available, 4);
    assert_true(node_has_model(n, "qwen3:8b"));
    json_decref(b);
    registry_free(&r);
}

static void liveness_and_draining(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, 15, 30);
    char err[256];
    struct node *n;
    json_t *b = load("{\"node_id\":\"a\",\"ollama\":{\"models_loaded\":[{\"name\":\"m\","
                     "\"size_gb\":1}]}}");
    registry_heartbeat(&r, b, "127.0.0.1", 100, &n, err, sizeof err);
    assert_int_equal(registry_tick(&r, 114), 0);
    assert_int_equal(n->status, NODE_ONLINE);
    assert_int_equal(registry_tick(&r, 116), 1);
    assert_int_equal(n->status, NODE_DEGRADED);
    assert_int_equal(registry_tick(&r, 131), 1);
    assert_int_equal(n->status, NODE_OFFLINE);
    registry_heartbeat(&r, b, "127.0.0.1", 140, &n, err, sizeof err);
    assert_int_equal(n->status, NODE_ONLINE); /* back */
    json_t *d = load("{\"node_id\":\"a\",\"draining\":true}");
    registry_heartbeat(&r, d, "127.0.0.1", 141, &n, err, sizeof err);
    assert_int_equal(n->status, NODE_OFFLINE); /* at once */
    assert_true(n->draining);
    assert_int_equal(n->n_loaded, 1); /* a draining beat does not erase what is known */
    registry_heartbeat(&r, b, "127.0.0.1", 150, &n, err, sizeof err);
    assert_int_equal(n->status, NODE_ONLINE);
    assert_false(n->draining);
    /* A draining beat from a node never seen is accepted and ignored. */
    json_t *stranger = load("{\"node_id\":\"z\",\"draining\":true}");
    assert_int_equal(registry_heartbeat(&r, stranger, "127.0.0.1", 1, &n, err, sizeof err), 0);
    assert_null(registry_find(&r, "z"));
    json_decref(stranger);
    json_decref(b);
    json_decref(d);
    registry_free(&r);
}

static void unloaded_models_are_remembered_for_the_warm_tier(void **state)
{
    (void)state;
    struct registry r;
    registry_init(&r, 15, 30);
    char err[256];
    struct node *n;
    json_t *b1 = load("{\"node_id\":\"a\",\"ollama\":{\"models_loaded\":[{\"name\":\"x:7b\"}],"
                      "\"models_available\":[\"x:7b\"]}}");
    json_t *b2 = load("{\"node_id\":\"a\",\"ollama\":{\"models_loaded\":[],"
                      "\"models_available\":[\"x:7b\"]}}");
    registry_heartbeat(&r, b1, "127.0.0.1", 100, &n, err, sizeof err);
    assert_true(node_unloaded_at(n, "x:7b") == 0);
    registry_heartbeat(&r, b2, "127.0.0.1", 105, &n, err, sizeof err);
    assert_true(node_unloaded_at(n, "x:7b") == 105);
    json_decref(b1);
    json_decref(b2);
    registry_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_heartbeat_is_parsed),
        cmocka_unit_test(url_follows_where_the_beat_came_from),
        cmocka_unit_test(malformed_heartbeats_are_rejected_with_a_reason),
        cmocka_unit_test(available_models_may_carry_size_and_capabilities),
        cmocka_unit_test(liveness_and_draining),
        cmocka_unit_test(unloaded_models_are_remembered_for_the_warm_tier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
