/* model_caps: a model's capabilities as Ollama names them in /api/tags and /api/show
 * ("completion", "tools", ...), as bits. Shared by the simulator, which reports them, and the
 * coordinator, which routes by them. */
#ifndef HERD_MODEL_CAPS_H
#define HERD_MODEL_CAPS_H

#include <jansson.h>
#include <stddef.h>

enum model_cap {
    MCAP_COMPLETION = 1u << 0,
    MCAP_TOOLS = 1u << 1,
    MCAP_INSERT = 1u << 2,
    MCAP_VISION = 1u << 3,
    MCAP_EMBEDDING = 1u << 4,
    MCAP_THINKING = 1u << 5,
    MCAP_KNOWN = 1u << 31, /* set when a node reported the capabilities (see model_class) */
};

/* The bit of a capability name (any case), or 0 when unknown. */
unsigned model_cap_parse(const char *name);

/* Names of the bits set in caps, in Ollama's order; writes up to max of them (static
 * strings) to out and returns how many. */
size_t model_caps_names(unsigned caps, const char **out, size_t max);

/* The names as a new JSON array. */
json_t *model_caps_to_json(unsigned caps);

/* Bits from a JSON array of names (unknown names ignored), with MCAP_KNOWN set; 0 when caps is
 * not an array. */
unsigned model_caps_from_json(const json_t *caps);

#endif
