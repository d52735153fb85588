/* request_body: the body a node gets, from the client's: herd's edits (the model that serves,
 * num_ctx taken out, fallback_models and metadata dropped, usage asked for in an OpenAI
 * stream). Pure. */
#ifndef HERD_REQUEST_BODY_H
#define HERD_REQUEST_BODY_H

#include <stdbool.h>
#include <stddef.h>

struct request_body_edits {
    const char *model; /* the model to write in, or NULL to keep the client's */
    bool strip_ctx;    /* take options.num_ctx out (options too when it is left empty) */
    bool drop_extra;   /* take fallback_models and metadata out */
    bool add_usage;    /* set stream_options.include_usage */
};

/* Whether any edit is asked for (else the client's bytes go as they are). */
bool request_body_edited(const struct request_body_edits *e);

/* The edited body of raw (a JSON object) as new compact JSON text into *out (caller frees),
 * its length in *out_len. 0, or -1 when raw is not JSON or memory ran out. */
int request_body_edit(const char *raw, size_t raw_len, const struct request_body_edits *e,
                      char **out, size_t *out_len);

#endif
