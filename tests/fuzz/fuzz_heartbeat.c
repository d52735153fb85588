/* Feeds the registry arbitrary heartbeats (any host that can reach herd may send one when no
 * node secret is set): each JSON document is applied twice to the same registry, as a new node
 * and as a known one, and what the registry keeps must stay consistent. Bytes that are not
 * JSON are for the JSON parser, not this target. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coord/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *beat = json_loadb((const char *)data, size, 0, &je);
    if (!beat)
        return 0;
    struct registry r;
    registry_init(&r, 15, 30);
    char err[256];
    for (int round = 0; round < 2; round++) {
        struct node *n = NULL;
        err[0] = '\0';
        int rc = registry_heartbeat(&r, beat, "192.0.2.7", 1000 + round, &n, err, sizeof err);
        if (rc == 0) {
            if (!n || r.n != 1 || registry_find(&r, n->id) != n)
                abort();
            if (memchr(n->id, '\0', sizeof n->id) == NULL ||
                memchr(n->url, '\0', sizeof n->url) == NULL)
                abort();
            for (size_t i = 0; i < n->n_loaded; i++)
                if (!node_has_model(n, n->loaded[i].name) &&
                    !node_loaded_model(n, n->loaded[i].name))
                    abort();
            if (node_available_gb(n) < 0 && n->has_memory && n->mem_available_gb >= 0)
                abort();
        } else if (rc != -EINVAL || !err[0] || r.n > 1) {
            abort();
        }
    }
    registry_tick(&r, 5000);
    registry_free(&r);
    json_decref(beat);
    return 0;
}
