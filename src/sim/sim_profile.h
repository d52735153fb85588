/* sim_profile: describing simulated machines: "name=size" model arguments, and JSON profiles
 * that describe one machine or a whole fleet. */
#ifndef HERD_SIM_PROFILE_H
#define HERD_SIM_PROFILE_H

#include <jansson.h>
#include <stddef.h>

#include "sim/sim_server.h"

struct sim_fleet {
    struct sim_node_config *nodes;
    size_t n;
};

/* Parses "qwen2.5:7b=4.7" (size in GB) into a model description. 0 or -EINVAL. */
int sim_parse_model_arg(const char *arg, struct sim_model_spec *out, char *err, size_t errlen);

/* Parses "MIN-MAX" or "N" token counts. 0 or -EINVAL. */
int sim_parse_token_range(const char *arg, int *min, int *max);

/* Appends to a node configuration; each returns 0 or -ENOMEM. */
int sim_config_add_model(struct sim_node_config *c, const struct sim_model_spec *m);
int sim_config_add_loaded(struct sim_node_config *c, const char *name);
int sim_config_add_registry(struct sim_node_config *c, const char *name, double size_gb);
int sim_config_add_fault(struct sim_node_config *c, const struct sim_fault *f);

/* Deep copy (the arrays are duplicated). 0 or -ENOMEM. */
int sim_config_copy(struct sim_node_config *dst, const struct sim_node_config *src);

/* Frees the arrays of a configuration. */
void sim_config_free(struct sim_node_config *c);

/* Reads a profile: {"defaults": {...}, "nodes": [{...}, ...]} or a single node object. Each
 * node starts from base, then the profile's defaults, then its own fields. Returns 0 or
 * -EINVAL with a message naming the node and field. */
int sim_profile_parse(const json_t *root, const struct sim_node_config *base, struct sim_fleet *out,
                      char *err, size_t errlen);
int sim_profile_load(const char *path, const struct sim_node_config *base, struct sim_fleet *out,
                     char *err, size_t errlen);

/* Frees a fleet. Accepts a zeroed fleet. */
void sim_fleet_free(struct sim_fleet *f);

#endif
