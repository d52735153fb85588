/* sim_text: the simulator's deterministic "model": a tokenizer good enough for counting and
 * prefix matching, generated text, tool-call arguments and embedding vectors, all a pure
 * function of their inputs and a seed. */
#ifndef HERD_SIM_TEXT_H
#define HERD_SIM_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/hbuf.h"

/* A small, fast, seedable generator (splitmix64). */
struct sim_rng {
    uint64_t s;
};
void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
/* Uniform in [0, 1). */
double sim_rng_unit(struct sim_rng *r);

/* 64-bit FNV-1a of bytes, continuing from h (start with SIM_HASH_INIT). */
#define SIM_HASH_INIT 1469598103934665603ULL
uint64_t sim_hash(uint64_t h, const void *p, size_t len);

/* Token ids of a text: one token per word with the whitespace after it, long words split
 * every 8 bytes. Ids are hashes, so equal text gives equal ids. */
struct sim_tokens {
    uint32_t *ids; /* owned */
    size_t n;
    size_t cap;
};
void sim_tokens_init(struct sim_tokens *t);
void sim_tokens_free(struct sim_tokens *t);
/* Appends the tokens of len bytes of text. 0 or -ENOMEM. */
int sim_tokenize_append(struct sim_tokens *t, const char *text, size_t len);
/* Appends count tokens standing for an image (derived from its data). 0 or -ENOMEM. */
int sim_tokens_append_blob(struct sim_tokens *t, const char *data, size_t len, size_t count);
/* Number of tokens a text would have. */
size_t sim_token_count(const char *text, size_t len);

/* Appends the next generated word (with its leading space except at the start) to out. */
void sim_next_word(struct sim_rng *r, struct hbuf *out, int index);

/* Arguments for a call of a function whose JSON-schema parameters are given: every property
 * gets a plausible value of its type (first enum value, "example", 1, true, [], {}). New
 * reference. */
json_t *sim_tool_arguments(const json_t *parameters, struct sim_rng *r);

/* A JSON value that satisfies a JSON-schema object (format requests); "json" or an
 * unusable schema gives {"response": <text>}. New reference. */
json_t *sim_json_for_schema(const json_t *schema, struct sim_rng *r);

/* Fills v[0..dim) with a deterministic vector for text; L2-normalised when normalize. */
void sim_embedding(const char *text, size_t len, float *v, int dim, int normalize);

#endif
