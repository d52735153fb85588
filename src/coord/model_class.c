#include "coord/model_class.h"

#include <string.h>

static bool name_has(const char *name, const char *const *words)
{
    for (; *words; words++)
        if (strstr(name, *words))
            return true;
    return false;
}

enum model_category model_category(const char *name, unsigned caps)
{
    static const char *const embedding[] = {"embed", "minilm", "bge-", "bge:", NULL};
    static const char *const coding[] = {"coder",     "codestral", "devstral",
                                         "starcoder", "codellama", NULL};
    static const char *const reasoning[] = {"deepseek-r1",     "qwq",       "phi4-reasoning",
                                            "phi-4-reasoning", "reasoning", NULL};
    static const char *const vision[] = {"llava", "vision", "moondream", "minicpm-v", NULL};
    /* The name's base, without a namespace ("library/", "user/"). */
    const char *slash = strrchr(name, '/');
    const char *base = slash ? slash + 1 : name;
    if (caps & MCAP_KNOWN) {
        if ((caps & MCAP_EMBEDDING) && !(caps & MCAP_COMPLETION))
            return MCAT_EMBEDDING;
    } else if (name_has(base, embedding)) {
        return MCAT_EMBEDDING;
    }
    if (name_has(base, coding))
        return MCAT_CODING;
    if (name_has(base, reasoning))
        return MCAT_REASONING;
    if (name_has(base, vision))
        return MCAT_VISION;
    return MCAT_GENERAL;
}

static bool message_has_image(const json_t *m)
{
    if (json_array_size(json_object_get(m, "images")) > 0)
        return true;
    const json_t *content = json_object_get(m, "content");
    size_t i;
    const json_t *part;
    json_array_foreach (content, i, part) {
        const char *type = json_string_value(json_object_get(part, "type"));
        if (type && (strcmp(type, "image_url") == 0 || strcmp(type, "input_image") == 0))
            return true;
    }
    return false;
}

unsigned model_request_needs(const json_t *body, bool embedding_route)
{
    if (embedding_route)
        return MCAP_EMBEDDING;
    unsigned need = MCAP_COMPLETION;
    if (json_array_size(json_object_get(body, "tools")) > 0 ||
        json_array_size(json_object_get(body, "functions")) > 0)
        need |= MCAP_TOOLS;
    if (json_array_size(json_object_get(body, "images")) > 0)
        need |= MCAP_VISION;
    size_t i;
    const json_t *m;
    json_array_foreach (json_object_get(body, "messages"), i, m) {
        if (message_has_image(m)) {
            need |= MCAP_VISION;
            break;
        }
    }
    return need;
}

bool model_caps_satisfy(unsigned have, unsigned need)
{
    need &= ~MCAP_KNOWN;
    if (!(have & MCAP_KNOWN))
        return (need & ~(MCAP_COMPLETION | MCAP_EMBEDDING)) == 0;
    return (have & need) == need;
}

const char *model_category_name(enum model_category c)
{
    switch (c) {
    case MCAT_GENERAL:
        return "general";
    case MCAT_CODING:
        return "coding";
    case MCAT_REASONING:
        return "reasoning";
    case MCAT_VISION:
        return "vision";
    case MCAT_EMBEDDING:
        return "embedding";
    }
    return "general";
}
