/* keep_alive: Ollama's keep_alive value (a number of seconds, or a Go duration string), as
 * the simulator applies it and herd reads it (keep_alive 0 unloads a model everywhere). */
#ifndef HERD_KEEP_ALIVE_H
#define HERD_KEEP_ALIVE_H

#include <jansson.h>
#include <stddef.h>

/* Parses Ollama's keep_alive value: a number of seconds, or a Go duration string ("5m",
 * "1h30m", "300ms", "-1m"). Negative means forever. Returns 0, or -EINVAL with Go's message
 * ("time: missing unit in duration \"3600\"") in err. */
int keep_alive_parse(const json_t *v, double *seconds, char *err, size_t errlen);

#endif
