#include "sim/sim_catalog.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct known_model {
    const char *prefix; /* matched against the normalised name's start */
    const char *family;
    unsigned caps;
    int64_t context;
    int embedding_length;
};

/* A few families the tests, demo and benchmarks use; anything else is described by shape. */
static const struct known_model known[] = {
    {"llama3.3", "llama", MCAP_COMPLETION | MCAP_TOOLS, 131072, 8192},
    {"llama3.2-vision", "mllama", MCAP_COMPLETION | MCAP_VISION, 131072, 4096},
    {"llama3.2", "llama", MCAP_COMPLETION | MCAP_TOOLS, 131072, 3072},
    {"llama3.1", "llama", MCAP_COMPLETION | MCAP_TOOLS, 131072, 4096},
    {"llama3", "llama", MCAP_COMPLETION, 8192, 4096},
    {"qwen2.5-coder", "qwen2", MCAP_COMPLETION | MCAP_TOOLS | MCAP_INSERT, 32768, 3584},
    {"qwen2.5", "qwen2", MCAP_COMPLETION | MCAP_TOOLS, 32768, 3584},
    {"qwen3", "qwen3", MCAP_COMPLETION | MCAP_TOOLS | MCAP_THINKING, 40960, 4096},
    {"deepseek-r1", "qwen2", MCAP_COMPLETION | MCAP_THINKING, 131072, 3584},
    {"gemma3", "gemma3", MCAP_COMPLETION | MCAP_VISION, 131072, 3840},
    {"mistral", "llama", MCAP_COMPLETION | MCAP_TOOLS, 32768, 4096},
    {"phi4", "phi3", MCAP_COMPLETION, 16384, 5120},
    {"llava", "llama", MCAP_COMPLETION | MCAP_VISION, 4096, 4096},
    {"nomic-embed-text", "nomic-bert", MCAP_EMBEDDING, 2048, 768},
    {"mxbai-embed-large", "bert", MCAP_EMBEDDING, 512, 1024},
    {"all-minilm", "bert", MCAP_EMBEDDING, 512, 384},
    {"bge-m3", "bert", MCAP_EMBEDDING, 8192, 1024},
};

/* Reads a parameter count such as "7b", "0.5b", "70b", "8x7b", "270m" from a tag. */
static double params_from_tag(const char *tag)
{
    const char *p = tag;
    while (*p) {
        if (isdigit((unsigned char)*p)) {
            char *end;
            double v = strtod(p, &end);
            if (end != p && (*end == 'b' || *end == 'B'))
                return v;
            if (end != p && (*end == 'm' || *end == 'M') &&
                (end[1] == '\0' || end[1] == '-' || end[1] == '_'))
                return v / 1000.0;
            p = end > p ? end : p + 1;
        } else {
            p++;
        }
    }
    return 0;
}

void sim_catalog_describe(const char *name, double size_gb, struct sim_model_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    if (model_name_normalize(name, spec->name, sizeof spec->name) != 0)
        snprintf(spec->name, sizeof spec->name, "%s", name);
    spec->size_gb = size_gb;

    const char *slash = strrchr(spec->name, '/');
    const char *base = slash ? slash + 1 : spec->name;
    const char *colon = strchr(base, ':');
    size_t base_len = colon ? (size_t)(colon - base) : strlen(base);
    const char *tag = colon ? colon + 1 : "latest";

    const struct known_model *k = NULL;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        size_t n = strlen(known[i].prefix);
        if (base_len >= n && strncmp(base, known[i].prefix, n) == 0) {
            k = &known[i];
            break;
        }
    }
    bool embed_name = strstr(base, "embed") != NULL || strstr(base, "minilm") != NULL;
    if (k) {
        snprintf(spec->family, sizeof spec->family, "%s", k->family);
        spec->caps = k->caps;
        spec->context_length = k->context;
        spec->embedding_length = k->embedding_length;
    } else {
        /* Family from the name up to its first digit or separator: "mymodel2:7b" -> mymodel */
        size_t n = 0;
        while (n < base_len && n < sizeof spec->family - 1 &&
               (isalpha((unsigned char)base[n]) || base[n] == '_'))
            n++;
        snprintf(spec->family, sizeof spec->family, "%.*s", (int)(n ? n : base_len), base);
        spec->caps = embed_name ? MCAP_EMBEDDING : MCAP_COMPLETION | MCAP_TOOLS;
        spec->context_length = embed_name ? 2048 : 32768;
        spec->embedding_length = embed_name ? 768 : 4096;
    }

    /* Parameters: from the tag, else from the size (Q4 is about 0.6 GB per billion). */
    double params = params_from_tag(tag);
    if (params <= 0)
        params = size_gb > 0 ? size_gb / 0.6 : 1;
    if (params >= 10)
        snprintf(spec->parameter_size, sizeof spec->parameter_size, "%.0fB", params);
    else if (params >= 1)
        snprintf(spec->parameter_size, sizeof spec->parameter_size, "%.1fB", params);
    else
        snprintf(spec->parameter_size, sizeof spec->parameter_size, "%.0fM", params * 1000);

    /* Quantisation from bytes per parameter. */
    double bpp = params > 0 ? size_gb / params : 0.6;
    const char *q = bpp > 1.6 ? "F16" : bpp > 0.9 ? "Q8_0" : bpp > 0.45 ? "Q4_K_M" : "Q3_K_S";
    if (strstr(tag, "q8"))
        q = "Q8_0";
    else if (strstr(tag, "fp16") || strstr(tag, "f16"))
        q = "F16";
    snprintf(spec->quantization, sizeof spec->quantization, "%s", q);

    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)spec->name, strlen(spec->name), md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(spec->digest + 2 * i, 3, "%02x", md[i]);
    spec->modified_at = 1735689600.0; /* 2025-01-01: stable output for a given profile */
}
