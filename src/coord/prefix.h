/* prefix: which part of a prompt a node has cached, without the engine's help. Pure.
 *
 * A prompt is read as text (each message's role and content, or a generate request's system
 * and prompt) cut in blocks of PREFIX_BLOCK characters, each block hashed together with all
 * before it: two prompts share their first k blocks exactly when their first k hashes are
 * equal (but for a 2^-64 chance). Per node:model the index remembers as many prompts as the
 * node has parallel slots, since Ollama keeps one KV cache per slot and a new prompt reuses
 * the slot whose cache it continues (or the oldest). The share of a new prompt that the best
 * remembered one covers is what its prefill need not redo. */
#ifndef HERD_PREFIX_H
#define HERD_PREFIX_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "coord/node.h"

#define PREFIX_BLOCK 256       /* characters per block */
#define PREFIX_MAX_BLOCKS 256  /* a prompt is read up to 64 KiB of text */
#define PREFIX_MAX_SLOTS 8     /* prompts remembered per node:model at most */
#define PREFIX_MAX_QUEUES 1024 /* node:models remembered at most (the oldest goes) */

/* A prompt as blocks. */
struct prefix_key {
    uint64_t h[PREFIX_MAX_BLOCKS];
    size_t n;     /* whole blocks */
    size_t chars; /* of the whole text (it may be longer than the blocks) */
};

/* The key of a chat or generate body (messages, or system and prompt). */
void prefix_key_of(const json_t *body, struct prefix_key *out);

struct prefix_slot {
    uint64_t h[PREFIX_MAX_BLOCKS];
    size_t n;
    uint64_t used;
};

struct prefix_entry {
    char node_id[NODE_ID_MAX];
    char model[MODEL_NAME_MAX];
    struct prefix_slot slots[PREFIX_MAX_SLOTS];
    int n_slots;
    uint64_t used;
};

/* Every node:model's remembered prompts. */
struct prefix_index {
    struct prefix_entry **e;
    size_t n;
    uint64_t clock;
};

void prefix_index_init(struct prefix_index *x);
void prefix_index_free(struct prefix_index *x);

/* The share (0..1) of key's text that node:model has cached. */
double prefix_match(const struct prefix_index *x, const char *node_id, const char *model,
                    const struct prefix_key *key);

/* How many blocks node:model's remembered prompts hold in all. */
size_t prefix_blocks(const struct prefix_index *x, const char *node_id, const char *model);

/* key was sent to node:model, which has slots parallel slots: it takes the slot whose prompt
 * it continues, else a free one, else the least recently used. 0 or -ENOMEM. */
int prefix_remember(struct prefix_index *x, const char *node_id, const char *model, int slots,
                    const struct prefix_key *key);

/* Forgets what node_id cached (it restarted, or its models were unloaded). */
void prefix_forget_node(struct prefix_index *x, const char *node_id);

#endif
