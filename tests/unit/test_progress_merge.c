/* Several nodes' progress lines as one stream: layers at the slowest node's progress, status
 * lines once every node working has reached them, failures kept per node. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coord/progress_merge.h"

static struct progress_merge *M;
static json_t *out;

static int setup(void **state)
{
    (void)state;
    M = malloc(sizeof *M);
    out = json_array();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    free(M);
    json_decref(out);
    return 0;
}

/* Feeds a line given as JSON text from src. */
static void feed(int src, const char *text)
{
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    progress_merge_line(M, src, o, out);
    json_decref(o);
}

/* The i-th line written, as compact JSON text (valid until the next call). */
static const char *written(size_t i)
{
    static char buf[512];
    char *s = json_dumps(json_array_get(out, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_non_null(s);
    snprintf(buf, sizeof buf, "%s", s);
    free(s);
    return buf;
}

static void one_source_passes_its_lines_through(void **state)
{
    (void)state;
    progress_merge_init(M, 1);
    feed(0, "{\"status\":\"pulling manifest\"}");
    feed(0, "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100}");
    feed(0,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":40}");
    feed(0, "{\"status\":\"verifying sha256 digest\"}");
    feed(0, "{\"status\":\"success\"}");
    assert_int_equal(json_array_size(out), 4);
    assert_string_equal(written(0), "{\"status\":\"pulling manifest\"}");
    assert_string_equal(written(1),
                        "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100}");
    assert_string_equal(
        written(2),
        "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":40}");
    assert_string_equal(written(3), "{\"status\":\"verifying sha256 digest\"}");
    assert_true(progress_merge_done(M));
    assert_null(progress_merge_error(M, 0));
}

static void a_layer_shows_the_slowest_node(void **state)
{
    (void)state;
    progress_merge_init(M, 2);
    feed(0,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":80}");
    feed(1,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":30}");
    feed(0,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":100}");
    assert_int_equal(json_array_size(out), 3);
    /* Source 1 has not reported yet: nothing completed. */
    assert_null(strstr(written(0), "completed"));
    assert_non_null(strstr(written(1), "\"completed\":30"));
    assert_non_null(strstr(written(2), "\"completed\":30"));
    /* Source 0 moves to the next layer: the first one counts as done for it. */
    feed(0, "{\"status\":\"pulling def\",\"digest\":\"sha256:def\",\"total\":10,\"completed\":5}");
    feed(1,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":90}");
    assert_non_null(strstr(written(4), "\"completed\":90"));
    assert_false(progress_merge_done(M));
}

static void a_status_waits_for_every_node_working(void **state)
{
    (void)state;
    progress_merge_init(M, 2);
    feed(0, "{\"status\":\"pulling manifest\"}");
    assert_int_equal(json_array_size(out), 0);
    feed(1, "{\"status\":\"pulling manifest\"}");
    assert_int_equal(json_array_size(out), 1);
    feed(0, "{\"status\":\"verifying sha256 digest\"}");
    feed(0, "{\"status\":\"writing manifest\"}");
    feed(0, "{\"status\":\"success\"}");
    assert_int_equal(json_array_size(out), 1);
    feed(1, "{\"status\":\"verifying sha256 digest\"}");
    assert_int_equal(json_array_size(out), 2);
    assert_string_equal(written(1), "{\"status\":\"verifying sha256 digest\"}");
    feed(1, "{\"status\":\"writing manifest\"}");
    feed(1, "{\"status\":\"success\"}");
    assert_int_equal(json_array_size(out), 3);
    assert_true(progress_merge_done(M));
}

static void a_failed_node_no_longer_holds_the_others_back(void **state)
{
    (void)state;
    progress_merge_init(M, 2);
    feed(0, "{\"status\":\"pulling manifest\"}");
    feed(0,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":50}");
    assert_int_equal(json_array_size(out), 1); /* the manifest line waits for source 1 */
    progress_merge_fail(M, 1, "connection refused", out);
    assert_int_equal(json_array_size(out), 2);
    assert_string_equal(written(1), "{\"status\":\"pulling manifest\"}");
    feed(0,
         "{\"status\":\"pulling abc\",\"digest\":\"sha256:abc\",\"total\":100,\"completed\":60}");
    assert_non_null(strstr(written(2), "\"completed\":60"));
    feed(1, "{\"status\":\"success\"}"); /* ignored: it has ended */
    assert_string_equal(progress_merge_error(M, 1), "connection refused");
    assert_false(progress_merge_done(M));
    feed(0, "{\"error\":\"pull model manifest: file does not exist\"}");
    assert_true(progress_merge_done(M));
    assert_string_equal(progress_merge_error(M, 0), "pull model manifest: file does not exist");
}

static void lines_of_no_known_kind_are_ignored(void **state)
{
    (void)state;
    progress_merge_init(M, 1);
    feed(0, "{\"something\":1}");
    feed(0, "[1,2]");
    feed(5, "{\"status\":\"pulling manifest\"}"); /* no such source */
    assert_int_equal(json_array_size(out), 0);
    assert_false(progress_merge_done(M));
}

#define U(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        U(one_source_passes_its_lines_through),   U(a_layer_shows_the_slowest_node),
        U(a_status_waits_for_every_node_working), U(a_failed_node_no_longer_holds_the_others_back),
        U(lines_of_no_known_kind_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
