/* The coordinator's settings: one table, for flags, environment, env file, --help and docs. */
#include <stddef.h>

#include "coord/coord.h"

#define S(f) offsetof(struct coord_settings, f)
static const struct cfg_option options[] = {
    {"host", "FLEET_HOST", CFG_STRING, S(host), "0.0.0.0", 0, 0, NULL, "ADDR",
     "Address to listen on"},
    {"port", "FLEET_PORT", CFG_INT, S(port), "11435", 0, 65535, NULL, "PORT",
     "Port to listen on (0 picks a free one)"},
    {"data-dir", "FLEET_DATA_DIR", CFG_STRING, S(data_dir), "~/.fleet-manager", 0, 0, NULL, "DIR",
     "Where latency.db and logs/herd.jsonl live"},
    {"mdns", "FLEET_MDNS", CFG_BOOL, S(mdns), "true", 0, 0, NULL, NULL,
     "Advertise herd on the local network by mDNS (_fleet-manager._tcp) so nodes find it"},
    {"mdns-service-name", "FLEET_MDNS_SERVICE_NAME", CFG_STRING, S(mdns_service_name),
     "Fleet Manager Router", 0, 0, NULL, "NAME",
     "mDNS instance name; when another coordinator has it, herd takes \"NAME (2)\" and so on"},
    {"mdns-address", "FLEET_MDNS_ADDRESS", CFG_STRING, S(mdns_address), NULL, 0, 0, NULL, "ADDR",
     "IPv4 address to advertise (default: the address of the interface with the default route)"},
    {"heartbeat-interval", "FLEET_HEARTBEAT_INTERVAL", CFG_DOUBLE, S(heartbeat_interval), "5", 0.05,
     3600, NULL, "SECONDS", "How often node liveness is checked"},
    {"heartbeat-timeout", "FLEET_HEARTBEAT_TIMEOUT", CFG_DOUBLE, S(heartbeat_timeout), "15", 0.1,
     86400, NULL, "SECONDS",
     "A node is degraded (still routable) after this long without a heartbeat"},
    {"heartbeat-offline", "FLEET_HEARTBEAT_OFFLINE", CFG_DOUBLE, S(heartbeat_offline), "30", 0.1,
     86400, NULL, "SECONDS",
     "A node is offline (not routed to) after this long without a heartbeat"},
    {"ollama", "FLEET_OLLAMA", CFG_LIST, S(ollama), NULL, 0, 0, NULL, "[NAME=]URL",
     "An Ollama without herd-node (a Mac, a Windows PC, a box where no agent may run): herd "
     "polls its /api/version, /api/tags and /api/ps every heartbeat interval and routes to it "
     "like any node; what only an agent can tell (CPU, memory pressure, GPU, temperature) stays "
     "unknown. NAME defaults to the URL's host. Repeatable; the environment takes a "
     "comma-separated list"},
    {"score-model-hot", "FLEET_SCORE_MODEL_HOT", CFG_DOUBLE, S(score_hot), "50", 0, 1000, NULL, "N",
     "Points when the model is loaded on the node"},
    {"score-model-warm", "FLEET_SCORE_MODEL_WARM", CFG_DOUBLE, S(score_warm), "30", 0, 1000, NULL,
     "N", "Points when the node unloaded the model less than 30 minutes ago"},
    {"score-model-cold", "FLEET_SCORE_MODEL_COLD", CFG_DOUBLE, S(score_cold), "10", 0, 1000, NULL,
     "N", "Points when the model is only on disk"},
    {"score-memory-fit-max", "FLEET_SCORE_MEMORY_FIT_MAX", CFG_DOUBLE, S(score_memory_fit_max),
     "20", 0, 1000, NULL, "N", "Points for memory headroom (full when loaded)"},
    {"score-queue-depth-max-penalty", "FLEET_SCORE_QUEUE_DEPTH_MAX_PENALTY", CFG_DOUBLE,
     S(score_queue_max_penalty), "30", 0, 1000, NULL, "N", "Largest queue-depth penalty"},
    {"score-queue-depth-penalty-per", "FLEET_SCORE_QUEUE_DEPTH_PENALTY_PER", CFG_DOUBLE,
     S(score_queue_penalty_per), "6", 0, 1000, NULL, "N",
     "Penalty per request queued or running, per parallel slot"},
    {"score-wait-time-max-penalty", "FLEET_SCORE_WAIT_TIME_MAX_PENALTY", CFG_DOUBLE,
     S(score_wait_max_penalty), "25", 0, 1000, NULL, "N",
     "Largest penalty for the expected wait (p75 latency x requests ahead)"},
    {"score-role-affinity-max", "FLEET_SCORE_ROLE_AFFINITY_MAX", CFG_DOUBLE,
     S(score_role_affinity_max), "15", 0, 1000, NULL, "N",
     "Points for a model on a node of its class (large models on fast, big machines)"},
    {"score-role-large-threshold-gb", "FLEET_SCORE_ROLE_LARGE_THRESHOLD_GB", CFG_DOUBLE,
     S(score_role_large_gb), "20", 0, 100000, NULL, "GB", "Models larger than this are large"},
    {"score-role-small-threshold-gb", "FLEET_SCORE_ROLE_SMALL_THRESHOLD_GB", CFG_DOUBLE,
     S(score_role_small_gb), "8", 0, 100000, NULL, "GB", "Models smaller than this are small"},
    {"score-availability-trend-max", "FLEET_SCORE_AVAILABILITY_TREND_MAX", CFG_DOUBLE,
     S(score_availability_max), "10", 0, 1000, NULL, "N",
     "Points for the capacity learner's availability"},
    {"score-context-fit-max", "FLEET_SCORE_CONTEXT_FIT_MAX", CFG_DOUBLE, S(score_context_fit_max),
     "15", 0, 1000, NULL, "N", "Points (or penalty) for the loaded context fitting the prompt"},
    {"bandwidth-aware-scoring", "FLEET_BANDWIDTH_AWARE_SCORING", CFG_BOOL, S(bandwidth_aware),
     "true", 0, 0, NULL, NULL, "Role affinity from memory bandwidth when nodes report it"},
    {"queue-penalty-bandwidth-normalize", "FLEET_QUEUE_PENALTY_BANDWIDTH_NORMALIZE", CFG_BOOL,
     S(queue_bandwidth_normalize), "true", 0, 0, NULL, NULL,
     "A queue on a node faster than the fleet's median counts for less"},
    {"routing-policy", "FLEET_ROUTING_POLICY", CFG_ENUM, S(routing_policy), "herd", 0, 0,
     SCORE_POLICY_CHOICES, "POLICY",
     "How nodes are chosen: herd (the lowest predicted time to first token: the wait for a "
     "slot, a cold load, the prefill, from speeds learned per node and model), signals (the "
     "highest total of the seven signals above); both queue in herd within each node's "
     "parallel slots. To measure them against others (bench/routing.mjs): round_robin, "
     "least_conn, random, reference (the Python project's scoring, ties to the first node), "
     "cache_aware (SGLang's router: the best prefix match, or the least loaded when the load is "
     "imbalanced) or llmd (llm-d's default: prefix : queue : KV use = 2 : 2 : 1); those send "
     "every request straight to the node, with no queue in herd"},
    {"routing-explore", "FLEET_ROUTING_EXPLORE", CFG_DOUBLE, S(routing_explore), "0.01", 0, 0.02,
     NULL, "SHARE",
     "Share of requests herd's policy sends to the hot node whose speed it knows least (at most "
     "2%), so that the speeds of nodes that get no traffic stay current"},
    {"default-parallel", "FLEET_DEFAULT_PARALLEL", CFG_INT, S(default_parallel), "1", 1, 1024, NULL,
     "N", "Parallel slots per node:model when the node does not report them"},
    {"max-queue", "FLEET_MAX_QUEUE", CFG_INT, S(max_queue), "100", 1, 1000000, NULL, "N",
     "Requests that may wait for a slot on one node:model; more get 503"},
    {"max-retries", "FLEET_MAX_RETRIES", CFG_INT, S(max_retries), "2", 0, 10, NULL, "N",
     "Other nodes tried when one fails before its first chunk"},
    {"stale-timeout", "FLEET_STALE_TIMEOUT", CFG_DOUBLE, S(stale_timeout), "600", 0.1, 86400, NULL,
     "SECONDS",
     "A request whose node sends nothing for this long is cancelled (a slow model that still "
     "produces is never cut)"},
    {"hold-timeout", "FLEET_HOLD_TIMEOUT", CFG_DOUBLE, S(hold_timeout), "30", 0, 3600, NULL,
     "SECONDS",
     "How long a request waits for a node when none can take it yet (all draining, just "
     "restarted...) before 503"},
    {"drain-timeout", "FLEET_DRAIN_TIMEOUT", CFG_DOUBLE, S(drain_timeout), "60", 0, 86400, NULL,
     "SECONDS", "On SIGTERM, how long requests in flight may take to finish before herd exits"},
    {"vram-fallback", "FLEET_VRAM_FALLBACK", CFG_BOOL, S(vram_fallback), "true", 0, 0, NULL, NULL,
     "A model loaded nowhere may be served by a loaded model of the same kind (never an "
     "embedding model for a chat, never one lacking tools or vision the request uses) instead "
     "of a cold load"},
    {"auto-pull", "FLEET_AUTO_PULL", CFG_BOOL, S(auto_pull), "true", 0, 0, NULL, NULL,
     "A model no node has is pulled onto the node with the most free memory, then served"},
    {"auto-pull-timeout", "FLEET_AUTO_PULL_TIMEOUT", CFG_DOUBLE, S(auto_pull_timeout), "300", 1,
     86400, NULL, "SECONDS", "How long a request waits for its model's pull"},
    {"context-protection", "FLEET_CONTEXT_PROTECTION", CFG_ENUM, S(context_protection), "strip", 0,
     0, "strip|warn|passthrough", "MODE",
     "A client's options.num_ctx that would make Ollama reload a model: strip it when the loaded "
     "context is enough, keep it with a warning, or pass everything through"},
    {"max-body-mb", "FLEET_MAX_BODY_MB", CFG_INT, S(max_body_mb), "64", 1, 4096, NULL, "MB",
     "Largest request body accepted"},
    {"connect-timeout", "FLEET_CONNECT_TIMEOUT", CFG_DOUBLE, S(connect_timeout), "5", 0.1, 600,
     NULL, "SECONDS", "Time to connect to a node's Ollama"},
    {"trace-retention-days", "FLEET_TRACE_RETENTION_DAYS", CFG_INT, S(trace_retention_days), "90",
     1, 36500, NULL, "DAYS", "Traces and latency observations older than this are deleted"},
    {"api-keys", "FLEET_API_KEYS", CFG_SECRET, S(api_keys), NULL, 0, 0, NULL, "NAME:KEY,...",
     "Client API keys: inference and reads then need Authorization: Bearer KEY; each key's NAME "
     "is recorded with its requests. A KEY may be given as sha256:HEX"},
    {"api-keys-file", "FLEET_API_KEYS_FILE", CFG_STRING, S(api_keys_file), NULL, 0, 0, NULL, "FILE",
     "More client keys, one NAME:sha256:HEX per line (herd --new-key NAME prints one); "
     "read again when it changes"},
    {"admin-key", "FLEET_ADMIN_KEY", CFG_SECRET, S(admin_key), NULL, 0, 0, NULL, "KEY",
     "Key for everything that changes the fleet (pull, delete, settings, benchmarks); may be "
     "sha256:HEX. With client keys and no admin key, nobody may change the fleet"},
    {"node-secret", "FLEET_NODE_SECRET", CFG_SECRET, S(node_secret), NULL, 0, 0, NULL, "SECRET",
     "Shared with every herd-node: heartbeats must be signed with it (at least 16 characters)"},
    {"heartbeat-max-skew", "FLEET_HEARTBEAT_MAX_SKEW", CFG_DOUBLE, S(heartbeat_max_skew), "30", 1,
     3600, NULL, "SECONDS",
     "A signed heartbeat whose timestamp is further than this from herd's clock is refused"},
    {"tls-cert", "FLEET_TLS_CERT", CFG_STRING, S(tls_cert), NULL, 0, 0, NULL, "FILE",
     "Serve HTTPS with this PEM certificate chain (with --tls-key)"},
    {"tls-key", "FLEET_TLS_KEY", CFG_STRING, S(tls_key), NULL, 0, 0, NULL, "FILE",
     "The certificate's PEM private key"},
    {"tls-ca", "FLEET_TLS_CA", CFG_STRING, S(tls_ca), NULL, 0, 0, NULL, "FILE",
     "CA certificates (PEM) that https:// nodes' Ollama must be signed by (default: the "
     "system's)"},
    {"rate-limit", "FLEET_RATE_LIMIT", CFG_DOUBLE, S(rate_limit), "0", 0, 1e6, NULL, "PER_SECOND",
     "Requests per second allowed per API key (per client address without keys); 0: no limit"},
    {"rate-limit-burst", "FLEET_RATE_LIMIT_BURST", CFG_INT, S(rate_limit_burst), "20", 1, 1000000,
     NULL, "N", "Requests a client may send at once before the rate applies"},
    {"max-connections-per-client", "FLEET_MAX_CONNECTIONS_PER_CLIENT", CFG_INT,
     S(max_conns_per_client), "256", 0, 1000000, NULL, "N",
     "Open connections allowed from one client address (0: no limit); requests on more get 429"},
    {"max-header-kb", "FLEET_MAX_HEADER_KB", CFG_INT, S(max_header_kb), "64", 1, 1024, NULL, "KB",
     "Largest request line and headers accepted (431 beyond)"},
    {"max-headers", "FLEET_MAX_HEADERS", CFG_INT, S(max_headers), "100", 1, 10000, NULL, "N",
     "Most request headers accepted (431 beyond)"},
    {"header-timeout", "FLEET_HEADER_TIMEOUT", CFG_DOUBLE, S(header_timeout), "10", 0.1, 3600, NULL,
     "SECONDS",
     "A client must send its request's headers within this time of the first byte (408 and "
     "closed otherwise)"},
    {"idle-timeout", "FLEET_IDLE_TIMEOUT", CFG_DOUBLE, S(idle_timeout), "60", 0.1, 86400, NULL,
     "SECONDS", "An idle keep-alive connection is closed after this long"},
    {"new-key", NULL, CFG_STRING, S(new_key), NULL, 0, 0, NULL, "NAME",
     "Print a new random API key for NAME and the line to add to the keys file, then exit"},
    {"log-level", "FLEET_LOG_LEVEL", CFG_STRING, S(log_level), "info", 0, 0, NULL, "LEVEL",
     "Level of logs/herd.jsonl: debug, info, warn, error or off"},
    {"console-log-level", "FLEET_CONSOLE_LOG_LEVEL", CFG_STRING, S(console_log_level), "info", 0, 0,
     NULL, "LEVEL", "Level of the log on standard error"},
};
#undef S

const struct cfg_spec coord_config_spec = {
    "herd",
    "The herd coordinator: one Ollama and OpenAI endpoint in front of a fleet of Ollama machines.",
    "[options]",
    options,
    sizeof options / sizeof options[0],
    "Nodes join by POSTing heartbeats to /heartbeat (herd-node does it every 5 s).\n"
    "Clients use http://HOST:PORT as they would use Ollama, or http://HOST:PORT/v1 with an "
    "OpenAI client.\n",
};
