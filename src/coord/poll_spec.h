/* poll_spec: an Ollama herd polls, as the settings give it: "[NAME=]URL". Pure. */
#ifndef HERD_POLL_SPEC_H
#define HERD_POLL_SPEC_H

#include <stddef.h>

#include "common/config.h"

/* One entry: the node's name (NAME, else the URL's host) and the URL without a trailing '/'.
 * 0, or -1 with the fault in err. */
int poll_spec_parse(const char *spec, char *id, size_t idlen, char *url, size_t urllen, char *err,
                    size_t errlen);
/* Checks a list of entries (each valid, no name twice): 0, or -1 with the first fault in err. */
int poll_spec_check(const struct cfg_list *list, char *err, size_t errlen);

#endif
