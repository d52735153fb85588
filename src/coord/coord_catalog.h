/* coord_catalog: what each node's Ollama says of its models, as its /api/tags gives them
 * (digest, details, modified_at, exact size). A heartbeat carries a signature of the node's
 * list (herd-node's sha256 of the /api/tags body); when it differs from the one the catalog
 * was fetched for, herd fetches /api/tags from the node's Ollama once, in the background. The
 * heartbeat itself stays small whatever the number of models. */
#ifndef HERD_COORD_CATALOG_H
#define HERD_COORD_CATALOG_H

#include <jansson.h>

#include "coord/coord.h"

struct coord_catalog;

/* NULL when out of memory. Free with coord_catalog_free. */
struct coord_catalog *coord_catalog_new(struct coord *c);
/* Cancels the fetches under way. Accepts NULL. */
void coord_catalog_free(struct coord_catalog *k);

/* Node n has just sent a heartbeat: fetches its list when its signature changed and no fetch
 * for it is under way. */
void coord_catalog_heard(struct coord *c, struct node *n);

/* The node's /api/tags entry for model (normalised name), borrowed until its next fetch, or
 * NULL when the node has none (or its list was never fetched). */
const json_t *coord_catalog_entry(const struct node *n, const char *model);

#endif
