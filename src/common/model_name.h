/* model_name: Ollama model names at the boundary. */
#ifndef HERD_MODEL_NAME_H
#define HERD_MODEL_NAME_H

#include <stddef.h>

#define MODEL_NAME_MAX 160

/* Normalises a model name as Ollama matches it: a missing tag becomes ":latest", the
 * "registry.ollama.ai/library/" prefix is dropped, and case is folded (Ollama matches names
 * case-insensitively). Writes into out. Returns 0, or -EINVAL for an empty or malformed name. */
int model_name_normalize(const char *in, char *out, size_t outlen);

#endif
