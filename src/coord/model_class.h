/* model_class: what kind of model a name stands for, what it can do, and what a request
 * needs from it. Pure functions; the VRAM fallback uses them so that a request is never
 * served by a model that cannot do what was asked (a chat by an embedding model, tools by a
 * model without tool support, images by a text-only model). */
#ifndef HERD_MODEL_CLASS_H
#define HERD_MODEL_CLASS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/model_caps.h"

enum model_category {
    MCAT_GENERAL,
    MCAT_CODING,
    MCAT_REASONING,
    MCAT_VISION,
    MCAT_EMBEDDING,
};

/* The model's category: embedding when it embeds and does not complete (or, with unknown
 * capabilities, when its name says so), else from its name: coder/codestral/devstral/
 * starcoder -> coding, deepseek-r1/qwq/phi4-reasoning/reasoning -> reasoning,
 * llava/vision/moondream/minicpm-v/bakllava -> vision, else general. name is normalised. */
enum model_category model_category(const char *name, unsigned caps);

/* What a request needs: MCAP_EMBEDDING on an embedding route, else MCAP_COMPLETION, plus
 * MCAP_TOOLS when it offers tools and MCAP_VISION when it carries images (Ollama "images",
 * OpenAI "image_url" parts). */
unsigned model_request_needs(const json_t *body, bool embedding_route);

/* Whether a model with capabilities have can serve a request needing need. Of a model whose
 * capabilities are unknown only completion or embedding is assumed (its category tells
 * which), never tools or vision. */
bool model_caps_satisfy(unsigned have, unsigned need);

/* "general", "coding", ... */
const char *model_category_name(enum model_category c);

#endif
