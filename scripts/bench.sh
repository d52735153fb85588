#!/usr/bin/env bash
# Installs what is missing, builds herd (release with debug info, in build/) and runs one
# benchmark, or all of them; arguments after the name go to the benchmark.
#   scripts/bench.sh proxy|streams|routing|soak|dashboard [--smoke] [options]
#   scripts/bench.sh all [--smoke]     proxy, streams and routing, one after the other
# Reports go to bench/results/ (a smoke run's to bench/results/smoke/).
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:-}"
case "$name" in
  proxy|streams|routing|soak|dashboard|all) shift ;;
  *) echo "usage: scripts/bench.sh proxy|streams|routing|soak|dashboard|all [--smoke] [options]" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if [ "$name" = all ]; then
  for b in proxy streams routing; do node "bench/$b.mjs" "$@"; done
else
  node "bench/$name.mjs" "$@"
fi
