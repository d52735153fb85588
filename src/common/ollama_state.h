/* ollama_state: what the local Ollama says about itself (/api/ps, /api/tags, /api/version),
 * parsed into the heartbeat's "ollama" block. Pure: the agent fetches, these functions parse. */
#ifndef HERD_OLLAMA_STATE_H
#define HERD_OLLAMA_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct ollama_state {
    bool up;              /* /api/ps answered */
    char version[32];     /* "" when unknown */
    json_t *loaded;       /* [{name, size_gb, size, size_vram_gb, size_vram, context_length,
                             parameter_size, quantization, expires_at}] (owned; NULL = none known) */
    json_t *available;    /* [{name, size_gb, capabilities?}] (owned; NULL = none known) */
    char tags_digest[65]; /* sha256 of the last /api/tags body: herd fetches the whole list
                             (digests, details) from Ollama when it changes; "" unknown */
};

/* Drops what the state holds and marks it down. Accepts a zeroed state. */
void ollama_state_clear(struct ollama_state *s);

/* Parses an /api/ps body into the loaded-models array (a new reference in *out). 0, or -EINVAL
 * with a reason in err. */
int ollama_parse_ps(const char *body, size_t len, json_t **out, char *err, size_t errlen);

/* Parses an /api/tags body into the available-models array (a new reference in *out). */
int ollama_parse_tags(const char *body, size_t len, json_t **out, char *err, size_t errlen);

/* Parses an /api/version body ({"version":"0.12.6"}) into out. 0 or -EINVAL. */
int ollama_parse_version(const char *body, size_t len, char *out, size_t outlen);

#endif
