/* node_config: herd-node's settings, one table for flags, environment, env file and --help. */
#ifndef HERD_NODE_CONFIG_H
#define HERD_NODE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"

enum node_metrics_source { NODE_METRICS_SYSTEM, NODE_METRICS_HERD_SIM };

struct node_settings {
    char *node_id;
    char *ollama_host;
    char *router_url;
    char *router_name;
    double heartbeat_interval;
    bool learn_capacity;
    char *data_dir;
    int64_t num_parallel;
    char *models_dir;
    char *lan_ip;
    int metrics; /* enum node_metrics_source */
    char *nvml_library;
    double hours; /* for the capacity command */
    char *log_level;
    char *console_log_level;
    char *node_secret; /* signs heartbeats (node_auth.h) */
    char *tls_ca;      /* verifies an https:// coordinator and Ollama */
};

extern const struct cfg_spec node_config_spec;

#endif
