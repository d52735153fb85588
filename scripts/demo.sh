#!/usr/bin/env bash
# Installs what is missing, builds herd, and runs the demo: herd on http://127.0.0.1:11435 in
# front of a fleet of three simulated Ollama machines (profiles/demo-fleet.json, ports
# 11501-11503), each with a real herd-node agent beside it reporting the simulated machine.
# An Ollama already running on this machine (http://127.0.0.1:11434) joins the fleet too,
# through its own herd-node. Stop it with Ctrl-C.
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
agents=()
cleanup() {
  # The agents first, so their goodbye reaches herd before herd stops.
  for pid in "${agents[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${agents[@]}"; do wait "$pid" 2>/dev/null || true; done
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
# One agent per simulated machine, as on a real fleet (--metrics herd-sim: memory, GPU and speed
# of the machine the simulator models, not of this one).
for node in studio:11501 gpu-box:11502 laptop:11503; do
  ./build/herd-node --node-id "${node%%:*}" --ollama-host "http://127.0.0.1:${node##*:}" \
    --router-url http://127.0.0.1:11435 --metrics herd-sim --data-dir "$data/nodes/${node%%:*}" \
    --console-log-level warn &
  agents+=($!)
done
local_ollama=""
if curl -s -m 1 -o /dev/null http://127.0.0.1:11434/api/version; then
  ./build/herd-node --ollama-host http://127.0.0.1:11434 --router-url http://127.0.0.1:11435 \
    --data-dir "$data/nodes/local" --console-log-level warn &
  agents+=($!)
  local_ollama="  $(hostname -s) :11434  this machine's own Ollama"
fi
sleep 1

cat <<MSG

herd demo: herd on http://127.0.0.1:11435 in front of three simulated Ollama machines
  studio   :11501  192 GB, 800 GB/s   llama3.3:70b (warm), qwen2.5:32b, qwen2.5:7b, nomic-embed-text
  gpu-box  :11502  24 GB GPU, 1 TB/s  qwen2.5:7b (warm), qwen2.5:14b, llama3.1:8b, nomic-embed-text
  laptop   :11503  16 GB, 100 GB/s    llama3.2 (warm), qwen2.5:7b
$local_ollama
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
