/* Runtime settings: all or nothing, typed, saved and loaded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "coord/runtime_settings.h"

static struct coord_settings defaults(void)
{
    struct coord_settings s;
    memset(&s, 0, sizeof s);
    s.auto_pull = true;
    s.vram_fallback = true;
    s.context_protection = 0;
    s.max_retries = 2;
    return s;
}

static int apply(struct coord_settings *s, const char *json, char *err)
{
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    int rc = runtime_settings_apply(s, v, err, 256);
    json_decref(v);
    return rc;
}

static void changes_apply_whole_or_not_at_all(void **state)
{
    (void)state;
    struct coord_settings s = defaults();
    char err[256];
    assert_int_equal(apply(&s, "{\"auto_pull\":false,\"context_protection\":\"warn\"}", err), 0);
    assert_false(s.auto_pull);
    assert_int_equal(s.context_protection, 1);
    /* One bad value: nothing of the change applies. */
    assert_int_equal(apply(&s, "{\"vram_fallback\":false,\"max_retries\":11}", err), -EINVAL);
    assert_true(s.vram_fallback);
    assert_int_equal(s.max_retries, 2);
    assert_non_null(strstr(err, "max-retries"));
    assert_int_equal(apply(&s, "{\"auto_pull\":1}", err), -EINVAL);
    assert_string_equal(err, "auto_pull must be true or false");
    assert_int_equal(apply(&s, "{\"max_retries\":\"3\"}", err), -EINVAL);
    assert_int_equal(apply(&s, "{\"context_protection\":\"shred\"}", err), -EINVAL);
    assert_int_equal(apply(&s, "{\"port\":1}", err), -EINVAL);
    assert_non_null(strstr(err, "cannot be changed at run time"));
    assert_int_equal(apply(&s, "[]", err), -EINVAL);
    assert_int_equal(apply(&s, "{}", err), 0);
    json_t *j = runtime_settings_json(&s);
    assert_string_equal(json_string_value(json_object_get(j, "context_protection")), "warn");
    assert_false(json_boolean_value(json_object_get(j, "auto_pull")));
    json_decref(j);
}

static void saved_settings_come_back(void **state)
{
    (void)state;
    char dir[] = "/tmp/herd-rt-XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct coord_settings s = defaults(), t = defaults();
    char err[256], path[300];
    assert_int_equal(runtime_settings_load(&t, dir, err, sizeof err), 0); /* none yet */
    assert_true(t.auto_pull);
    assert_int_equal(apply(&s, "{\"auto_pull\":false,\"max_retries\":0}", err), 0);
    assert_int_equal(runtime_settings_save(&s, dir), 0);
    assert_int_equal(runtime_settings_load(&t, dir, err, sizeof err), 0);
    assert_false(t.auto_pull);
    assert_int_equal(t.max_retries, 0);
    /* A damaged file is an error that names it, and changes nothing. */
    snprintf(path, sizeof path, "%s/settings.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\"auto_pull\": tru", f);
    fclose(f);
    struct coord_settings u = defaults();
    assert_int_equal(runtime_settings_load(&u, dir, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "settings.json"));
    assert_true(u.auto_pull);
    unlink(path);
    rmdir(dir);
}

static void the_ollamas_to_poll_are_a_checked_list(void **state)
{
    (void)state;
    struct coord_settings s = defaults();
    char err[256];
    assert_int_equal(
        apply(&s, "{\"ollama\":[\"mac=http://mac.local:11434\",\"http://10.0.0.5:11434\"]}", err),
        0);
    assert_int_equal(s.ollama.n, 2);
    assert_string_equal(s.ollama.items[1], "http://10.0.0.5:11434");
    /* A bad entry, a name twice, a wrong type: the list and the rest stay as they were. */
    assert_int_equal(apply(&s, "{\"auto_pull\":false,\"ollama\":[\"ftp://x\"]}", err), -EINVAL);
    assert_non_null(strstr(err, "http:// or https://"));
    assert_true(s.auto_pull);
    assert_int_equal(apply(&s, "{\"ollama\":[\"a=http://h:1\",\"a=http://h:2\"]}", err), -EINVAL);
    assert_int_equal(apply(&s, "{\"ollama\":\"http://h:1\"}", err), -EINVAL);
    assert_int_equal(apply(&s, "{\"ollama\":[1]}", err), -EINVAL);
    assert_int_equal(s.ollama.n, 2);
    json_t *j = runtime_settings_json(&s);
    assert_int_equal(json_array_size(json_object_get(j, "ollama")), 2);
    json_decref(j);
    assert_int_equal(apply(&s, "{\"ollama\":[]}", err), 0);
    assert_int_equal(s.ollama.n, 0);
    free(s.ollama.items);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(changes_apply_whole_or_not_at_all),
        cmocka_unit_test(saved_settings_come_back),
        cmocka_unit_test(the_ollamas_to_poll_are_a_checked_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
