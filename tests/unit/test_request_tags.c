/* Request tags: the three sources, merged, trimmed, bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coord/request_tags.h"

static char *tags_of(const char *body, const char *header)
{
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    char *t = request_tags(b, header);
    json_decref(b);
    return t;
}

static void three_sources_merged_in_order(void **state)
{
    (void)state;
    char *t =
        tags_of("{\"metadata\":{\"tags\":[\"app-a\",\" nightly \",7,\"\"]},\"user\":\"alice\"}",
                " app-b,nightly,, app-a ");
    assert_string_equal(t, "[\"app-a\",\"nightly\",\"app-b\",\"user:alice\"]");
    free(t);
    t = tags_of("{\"model\":\"m\"}", NULL);
    assert_null(t);
    t = tags_of(NULL, "solo");
    assert_string_equal(t, "[\"solo\"]");
    free(t);
    t = tags_of("{\"metadata\":{\"tags\":\"not-a-list\"},\"user\":\"\"}", "  ,  ");
    assert_null(t);
}

static void bounded_in_number_and_length(void **state)
{
    (void)state;
    char header[4096] = "";
    for (int i = 0; i < 40; i++) {
        char one[16];
        snprintf(one, sizeof one, "t%d,", i);
        size_t used = strlen(header);
        snprintf(header + used, sizeof header - used, "%s", one);
    }
    char *t = tags_of(NULL, header);
    json_t *a = json_loads(t, 0, NULL);
    assert_int_equal(json_array_size(a), REQUEST_TAGS_MAX);
    json_decref(a);
    free(t);

    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + REQUEST_TAG_LEN - 1, "\xc3\xa9", 2); /* a character across the cut */
    t = tags_of(NULL, big);
    a = json_loads(t, 0, NULL);
    const char *s = json_string_value(json_array_get(a, 0));
    assert_int_equal(strlen(s), REQUEST_TAG_LEN - 1); /* cut before it, not inside */
    json_decref(a);
    free(t);
    /* Not UTF-8: dropped. */
    assert_null(tags_of(NULL, "\xff\xfe"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(three_sources_merged_in_order),
        cmocka_unit_test(bounded_in_number_and_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
