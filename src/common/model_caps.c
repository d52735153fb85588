#include "common/model_caps.h"

#include <strings.h>

static const struct {
    unsigned bit;
    const char *name;
} cap_names[] = {
    {MCAP_COMPLETION, "completion"}, {MCAP_TOOLS, "tools"},         {MCAP_INSERT, "insert"},
    {MCAP_VISION, "vision"},         {MCAP_EMBEDDING, "embedding"}, {MCAP_THINKING, "thinking"},
};
#define N_CAPS (sizeof cap_names / sizeof cap_names[0])

unsigned model_cap_parse(const char *name)
{
    for (size_t i = 0; name && i < N_CAPS; i++)
        if (strcasecmp(name, cap_names[i].name) == 0)
            return cap_names[i].bit;
    return 0;
}

size_t model_caps_names(unsigned caps, const char **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < N_CAPS && n < max; i++)
        if (caps & cap_names[i].bit)
            out[n++] = cap_names[i].name;
    return n;
}

json_t *model_caps_to_json(unsigned caps)
{
    const char *names[N_CAPS];
    size_t n = model_caps_names(caps, names, N_CAPS);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

unsigned model_caps_from_json(const json_t *caps)
{
    if (!json_is_array(caps))
        return 0;
    unsigned bits = MCAP_KNOWN;
    size_t i;
    const json_t *v;
    json_array_foreach (caps, i, v)
        bits |= model_cap_parse(json_string_value(v));
    return bits;
}
