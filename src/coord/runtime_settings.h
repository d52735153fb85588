/* runtime_settings: the settings the dashboard may change while herd runs (auto-pull, VRAM
 * fallback, context protection, retries, the Ollamas herd polls). A change takes effect at the next
 * request and is saved in DATA_DIR/settings.json, which herd applies at start over its
 * configuration (and says so in its log), so a change survives a restart. Pure except for the file
 * functions. */
#ifndef HERD_RUNTIME_SETTINGS_H
#define HERD_RUNTIME_SETTINGS_H

#include <jansson.h>
#include <stddef.h>

#include "coord/coord.h"

/* {"auto_pull": bool, "vram_fallback": bool, "context_protection": "strip"|"warn"|
 * "passthrough", "max_retries": int, "ollama": ["[NAME=]URL", ...]}; a new reference. */
json_t *runtime_settings_json(const struct coord_settings *s);

/* Applies changes (an object with any of the keys above) to s: all or nothing. -EINVAL with
 * the reason in err for an unknown key, a wrong type or a value out of range; s is then
 * unchanged. */
int runtime_settings_apply(struct coord_settings *s, const json_t *changes, char *err,
                           size_t errlen);

/* Writes the runtime settings to DATA_DIR/settings.json (atomically). 0 or a negative errno. */
int runtime_settings_save(const struct coord_settings *s, const char *data_dir);

/* Applies DATA_DIR/settings.json if it exists. 0 (also when there is none), or -EINVAL with
 * the reason in err (s unchanged). */
int runtime_settings_load(struct coord_settings *s, const char *data_dir, char *err, size_t errlen);

#endif
