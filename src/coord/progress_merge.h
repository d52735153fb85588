/* progress_merge: several nodes' NDJSON progress (pull, create, push) as one stream in
 * Ollama's shape, for a client that asked the fleet for one operation.
 *
 * A layer's progress line carries the layer's total and the least any node still working has
 * completed of it, so a progress bar only moves forward and ends when the slowest node is
 * done. A status line without progress ("pulling manifest", "writing manifest") is written
 * once, when every node still working has reached it. A node's "success" or error ends its
 * part; the outcome (success, or an error naming every node that failed) is the caller's to
 * write once progress_merge_done says all have ended. Pure: no I/O. */
#ifndef HERD_PROGRESS_MERGE_H
#define HERD_PROGRESS_MERGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMERGE_SOURCES_MAX 64
#define PMERGE_LAYERS_MAX 64
#define PMERGE_STATUSES_MAX 32

struct pmerge_layer {
    char digest[80];
    int64_t total;
    int64_t completed[PMERGE_SOURCES_MAX];
};

struct pmerge_status {
    char text[96];
    uint64_t reached; /* bit i: source i has sent it */
    bool written;
};

struct progress_merge {
    int n;           /* sources */
    uint64_t ended;  /* bit i: source i has ended */
    uint64_t failed; /* bit i: ... with an error */
    char error[PMERGE_SOURCES_MAX][256];
    int last_layer[PMERGE_SOURCES_MAX]; /* the layer each source reported last, or -1 */
    struct pmerge_layer layers[PMERGE_LAYERS_MAX];
    int n_layers;
    struct pmerge_status statuses[PMERGE_STATUSES_MAX];
    int n_statuses;
};

/* Prepares a merge of n sources (1..PMERGE_SOURCES_MAX). */
void progress_merge_init(struct progress_merge *m, int n);

/* Source src sent line (a parsed object, borrowed). Lines to write to the client are appended
 * to out (new references). A line that is neither progress, status, success nor error is
 * ignored. A source that has ended is ignored. */
void progress_merge_line(struct progress_merge *m, int src, const json_t *line, json_t *out);

/* Source src ended without a "success" line: it failed with error (the transfer broke, or
 * its status said so). Lines it was holding back may be appended to out. Ignored when the
 * source has already ended. */
void progress_merge_fail(struct progress_merge *m, int src, const char *error, json_t *out);

/* Whether every source has ended. */
bool progress_merge_done(const struct progress_merge *m);
/* Whether source src ended with an error, and which (borrowed), or NULL. */
const char *progress_merge_error(const struct progress_merge *m, int src);

#endif
