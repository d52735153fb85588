/* The prefix index: keys of prompts by blocks, the share a node has cached, one cached prompt
 * per parallel slot, and the slot a continued conversation takes. */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "coord/prefix.h"

static struct prefix_key *key_of(const char *json)
{
    json_error_t je;
    json_t *body = json_loads(json, 0, &je);
    assert_non_null(body);
    struct prefix_key *k = malloc(sizeof *k);
    prefix_key_of(body, k);
    json_decref(body);
    return k;
}

/* A conversation of n user turns of 300 characters each. */
static struct prefix_key *conversation(int n, char c)
{
    json_t *msgs = json_array();
    for (int i = 0; i < n; i++) {
        char text[301];
        memset(text, c + i, 300);
        text[300] = '\0';
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", "user", "content", text));
    }
    json_t *body = json_pack("{s:s, s:o}", "model", "m", "messages", msgs);
    struct prefix_key *k = malloc(sizeof *k);
    prefix_key_of(body, k);
    json_decref(body);
    return k;
}

static void keys_cut_text_in_blocks(void **state)
{
    (void)state;
    struct prefix_key *k = conversation(3, 'a');
    assert_int_equal(k->chars, 3 * (4 + 1 + 300 + 1)); /* "user\n" + text + "\n" */
    assert_int_equal(k->n, k->chars / PREFIX_BLOCK);
    struct prefix_key *longer = conversation(4, 'a');
    for (size_t i = 0; i < k->n; i++)
        assert_true(k->h[i] == longer->h[i]); /* a continued conversation keeps its blocks */
    struct prefix_key *other = conversation(3, 'b');
    assert_true(other->h[0] != k->h[0]);
    struct prefix_key *gen = key_of("{\"model\":\"m\",\"system\":\"s\",\"prompt\":\"p\"}");
    assert_int_equal(gen->chars, 2);
    assert_int_equal(gen->n, 0);
    free(k);
    free(longer);
    free(other);
    free(gen);
}

static void the_share_a_node_has_cached(void **state)
{
    (void)state;
    struct prefix_index x;
    prefix_index_init(&x);
    struct prefix_key *turn3 = conversation(3, 'a'), *turn4 = conversation(4, 'a');
    assert_true(prefix_match(&x, "n", "m", turn4) == 0);
    assert_int_equal(prefix_remember(&x, "n", "m", 2, turn3), 0);
    double share = prefix_match(&x, "n", "m", turn4);
    assert_true(fabs(share - (double)(turn3->n * PREFIX_BLOCK) / (double)turn4->chars) < 1e-12);
    assert_true(prefix_match(&x, "other", "m", turn4) == 0);
    assert_true(prefix_match(&x, "n", "other", turn4) == 0);
    assert_true(prefix_match(&x, "n", "m", turn3) <= 1);
    free(turn3);
    free(turn4);
    prefix_index_free(&x);
}

static void one_prompt_per_slot(void **state)
{
    (void)state;
    struct prefix_index x;
    prefix_index_init(&x);
    struct prefix_key *a = conversation(3, 'a'), *b = conversation(3, 'k'),
                      *c = conversation(3, 'u');
    struct prefix_key *a4 = conversation(4, 'a');
    prefix_remember(&x, "n", "m", 2, a);
    prefix_remember(&x, "n", "m", 2, b);
    /* a's conversation goes on: it takes a's slot, and b stays. */
    prefix_remember(&x, "n", "m", 2, a4);
    assert_true(prefix_match(&x, "n", "m", b) > 0.8);  /* whole blocks of its 918 characters */
    assert_true(prefix_match(&x, "n", "m", a4) > 0.8); /* whole blocks of its 918 characters */
    /* A third conversation on two slots: the least recently used (b) goes. */
    prefix_remember(&x, "n", "m", 2, c);
    assert_true(prefix_match(&x, "n", "m", b) == 0);
    assert_true(prefix_match(&x, "n", "m", a4) > 0.8); /* whole blocks of its 918 characters */
    assert_true(prefix_match(&x, "n", "m", c) > 0.8);  /* whole blocks of its 918 characters */
    /* The node restarted: nothing is cached. */
    prefix_forget_node(&x, "n");
    assert_true(prefix_match(&x, "n", "m", c) == 0);
    free(a);
    free(b);
    free(c);
    free(a4);
    prefix_index_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(keys_cut_text_in_blocks),
        cmocka_unit_test(the_share_a_node_has_cached),
        cmocka_unit_test(one_prompt_per_slot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
