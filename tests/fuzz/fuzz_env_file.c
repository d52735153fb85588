/* The env file parser reads a file a user (or anyone who can write it) controls. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"

static int check(const char *key, const char *value, int line, void *arg)
{
    (void)arg;
    if (!key || !value || line < 1 || strchr(key, '\n') || strchr(value, '\n'))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    cfg_parse_env_text(text, check, NULL);
    free(text);
    return 0;
}
