#!/usr/bin/env bash
# Installs what herd needs to build and test on Debian 12 (bookworm), skipping what is present.
# Used by the README's set-up commands and by .ci/run. Safe to run again.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config clang clang-format
  libevent-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev sqlite3
  libmdnsd-dev libssl-dev libcmocka-dev libjs-chart.js
  curl ca-certificates python3
  python3-zeroconf iproute2 chromium
  openssl prometheus systemd groff-base man-db
  nginx-light wrk
)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The real-client tests use the official npm packages, pinned by package-lock.json.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$here/package-lock.json" ] && [ ! -d "$here/node_modules/openai" -o ! -d "$here/node_modules/ollama" -o ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi
