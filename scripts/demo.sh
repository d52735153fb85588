#!/usr/bin/env bash
# Installs what is missing, builds herd, and runs the demo: herd on http://127.0.0.1:11435 in
# front of a fleet of three simulated Ollama machines (profiles/demo-fleet.json, ports
# 11501-11503). Stop it with Ctrl-C.
#   HERD_DEMO_TIME_SCALE=0.1 scripts/demo.sh   runs every modelled delay 10x faster
#   HERD_DEMO_DATA=DIR                         where herd keeps latency.db and its logs
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

data="${HERD_DEMO_DATA:-$PWD/build/demo-data}"
mkdir -p "$data"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

./build/herd-sim --profile profiles/demo-fleet.json --time-scale "${HERD_DEMO_TIME_SCALE:-1}" \
  --log-level warn &
pids+=($!)
./build/herd --host 127.0.0.1 --port 11435 --data-dir "$data" &
pids+=($!)
for port in 11435 11501 11502 11503; do
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.1
  done
done
node scripts/demo-heartbeats.mjs profiles/demo-fleet.json http://127.0.0.1:11435 5 &
pids+=($!)
sleep 1

cat <<MSG

herd demo: herd on http://127.0.0.1:11435 in front of three simulated Ollama machines
  studio   :11501  192 GB, 800 GB/s   llama3.3:70b (warm), qwen2.5:32b, qwen2.5:7b, nomic-embed-text
  gpu-box  :11502  24 GB GPU, 1 TB/s  qwen2.5:7b (warm), qwen2.5:14b, llama3.1:8b, nomic-embed-text
  laptop   :11503  16 GB, 100 GB/s    llama3.2 (warm), qwen2.5:7b
Try (the X-Fleet-Node header says which machine answered):
  curl -i http://127.0.0.1:11435/api/chat -d '{"model":"llama3.2","messages":[{"role":"user","content":"hello"}]}'
  curl -i http://127.0.0.1:11435/v1/chat/completions -d '{"model":"qwen2.5:7b","messages":[{"role":"user","content":"hi"}]}'
  curl http://127.0.0.1:11435/api/ps
  curl http://127.0.0.1:11435/fleet/status
  curl "http://127.0.0.1:11435/dashboard/api/traces?limit=5"
  sqlite3 $data/latency.db "SELECT node_id, model, status, score FROM request_traces ORDER BY timestamp DESC LIMIT 5"
Ctrl-C stops everything.
MSG
wait
