#!/usr/bin/env bash
# Installs what is missing, builds herd, and runs the demo: a fleet of simulated Ollama nodes
# (profiles/demo-fleet.json) on ports 11501-11503. Stop it with Ctrl-C.
#   HERD_DEMO_TIME_SCALE=0.1 scripts/demo.sh   runs every modelled delay 10x faster
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

cat <<'MSG'

herd demo: three simulated Ollama machines are starting.
  studio   http://127.0.0.1:11501   llama3.3:70b (warm), qwen2.5:32b, qwen2.5:7b, nomic-embed-text
  gpu-box  http://127.0.0.1:11502   qwen2.5:7b (warm), qwen2.5:14b, llama3.1:8b, nomic-embed-text
  laptop   http://127.0.0.1:11503   llama3.2 (warm), qwen2.5:7b
Try:
  curl http://127.0.0.1:11501/api/chat -d '{"model":"llama3.3:70b","messages":[{"role":"user","content":"hello"}]}'
  curl http://127.0.0.1:11502/v1/chat/completions -d '{"model":"qwen2.5:7b","messages":[{"role":"user","content":"hi"}]}'
  curl http://127.0.0.1:11503/_sim/state
MSG
exec ./build/herd-sim --profile profiles/demo-fleet.json --time-scale "${HERD_DEMO_TIME_SCALE:-1}"
