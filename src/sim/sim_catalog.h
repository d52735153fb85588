/* sim_catalog: what a simulated model looks like: its metadata (family, parameter size,
 * quantisation, capabilities, trained context, digest) from its name and size, and Ollama's
 * model-name normalisation. */
#ifndef HERD_SIM_CATALOG_H
#define HERD_SIM_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/model_caps.h"
#include "common/model_name.h"

#define SIM_NAME_MAX MODEL_NAME_MAX

struct sim_model_spec {
    char name[SIM_NAME_MAX]; /* normalised: "llama3.2:latest" */
    double size_gb;          /* weights on disk, GB (10^9 bytes) */
    char family[32];
    char parameter_size[16]; /* "7.6B" */
    char quantization[16];   /* "Q4_K_M" */
    char digest[65];         /* sha256 hex of the name: stable across runs */
    unsigned caps;           /* enum model_cap */
    int64_t context_length;  /* trained context */
    int embedding_length;
    double prompt_tps;  /* base prompt speed on its machine; 0 = derived */
    double gen_tps;     /* base generation speed; 0 = derived */
    double modified_at; /* epoch seconds */
};

/* Fills spec for a model called name (normalised here) of size_gb, from a table of known
 * models or from the name's shape ("7b" tag, "embed" in the name). */
void sim_catalog_describe(const char *name, double size_gb, struct sim_model_spec *spec);

#endif
