/* node_config: the agent's settings table. */
#include "node/node_config.h"

#include <stddef.h>

#define S(f) offsetof(struct node_settings, f)
static const struct cfg_option options[] = {
    {"node-id", "FLEET_NODE_NODE_ID", CFG_STRING, S(node_id), NULL, 0, 0, NULL, "ID",
     "This machine's name in the fleet (default: the short host name)"},
    {"ollama-host", "FLEET_NODE_OLLAMA_HOST", CFG_STRING, S(ollama_host), "http://localhost:11434",
     0, 0, NULL, "URL", "Where this machine's Ollama answers"},
    {"router-url", "FLEET_NODE_ROUTER_URL", CFG_STRING, S(router_url), NULL, 0, 0, NULL, "URL",
     "The coordinator (http://HOST:11435); empty = find it on the local network by mDNS"},
    {"router-name", "FLEET_NODE_ROUTER_NAME", CFG_STRING, S(router_name), NULL, 0, 0, NULL, "NAME",
     "With mDNS: join the coordinator advertised under this instance name (default: the first "
     "one found)"},
    {"heartbeat-interval", "FLEET_NODE_HEARTBEAT_INTERVAL", CFG_DOUBLE, S(heartbeat_interval), "5",
     0.05, 3600, NULL, "SECONDS", "How often the node reports its state"},
    {"learn-capacity", "FLEET_NODE_ENABLE_CAPACITY_LEARNING", CFG_BOOL, S(learn_capacity), "false",
     0, 0, NULL, NULL,
     "Learn when this machine is usually busy and offer the fleet less of it then"},
    {"data-dir", "FLEET_DATA_DIR", CFG_STRING, S(data_dir), "~/.fleet-manager", 0, 0, NULL, "DIR",
     "Where the capacity model and override are kept"},
    {"num-parallel", "FLEET_NODE_NUM_PARALLEL", CFG_INT, S(num_parallel), "0", 0, 1024, NULL, "N",
     "Requests Ollama runs at once per model; 0 = read OLLAMA_NUM_PARALLEL of the running "
     "Ollama (or this environment), else unknown"},
    {"models-dir", "FLEET_NODE_MODELS_DIR", CFG_STRING, S(models_dir), NULL, 0, 0, NULL, "DIR",
     "Disk to report (default: Ollama's model store: $OLLAMA_MODELS, ~/.ollama/models, "
     "/usr/share/ollama/.ollama/models)"},
    {"lan-ip", "FLEET_NODE_LAN_IP", CFG_STRING, S(lan_ip), NULL, 0, 0, NULL, "ADDR",
     "Address the coordinator should use to reach this machine, and whose interface mDNS uses "
     "(default: the address of the interface with the default route)"},
    {"metrics", "FLEET_NODE_METRICS", CFG_ENUM, S(metrics), "system", 0, 0, "system|herd-sim",
     "SOURCE",
     "Where memory and GPU figures come from: this machine, or the simulated machine of a "
     "herd-sim node at --ollama-host (demos and capacity planning)"},
    {"nvml-library", "FLEET_NODE_NVML_LIBRARY", CFG_STRING, S(nvml_library), "libnvidia-ml.so.1", 0,
     0, NULL, "PATH", "NVIDIA's management library, loaded at run time when present"},
    {"hours", NULL, CFG_DOUBLE, S(hours), "24", 0, 8760, NULL, "N",
     "With the capacity command: how long the override lasts (0 = until 'capacity auto')"},
    {"node-secret", "FLEET_NODE_SECRET", CFG_SECRET, S(node_secret), NULL, 0, 0, NULL, "SECRET",
     "The fleet's node secret, as given to herd: every heartbeat is signed with it"},
    {"tls-ca", "FLEET_TLS_CA", CFG_STRING, S(tls_ca), NULL, 0, 0, NULL, "FILE",
     "CA certificates (PEM) that an https:// coordinator and Ollama must be signed by "
     "(default: the system's)"},
    {"log-level", "FLEET_LOG_LEVEL", CFG_STRING, S(log_level), "info", 0, 0, NULL, "LEVEL",
     "Level of logs/herd-node.jsonl: debug, info, warn, error or off"},
    {"console-log-level", "FLEET_CONSOLE_LOG_LEVEL", CFG_STRING, S(console_log_level), "info", 0, 0,
     NULL, "LEVEL", "Level of the log on standard error"},
};
#undef S

const struct cfg_spec node_config_spec = {
    "herd-node",
    "The herd node agent: reports this machine and its Ollama to the coordinator every few "
    "seconds.",
    "[options]\n       herd-node [options] capacity full|paused|auto|status [--hours N]",
    options,
    sizeof options / sizeof options[0],
    "Commands:\n"
    "  capacity full     offer the fleet this machine fully (80 % of memory) for --hours\n"
    "  capacity paused   take this machine out of routing for --hours\n"
    "  capacity auto     end an override: back to what the capacity learner decides\n"
    "  capacity status   print the override and what was learned\n"
    "An override takes effect at the next heartbeat of the running agent (same --node-id and\n"
    "--data-dir), with or without --learn-capacity.\n"
    "On SIGTERM or SIGINT the agent sends one draining heartbeat, so the coordinator stops\n"
    "routing to this machine at once, and exits.\n",
};
