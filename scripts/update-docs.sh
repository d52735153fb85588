#!/usr/bin/env bash
# Regenerates the option tables in docs/ from the programs' --help-markdown (a test checks
# they match). Run after changing a settings table: scripts/update-docs.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
python3 - "$build" <<'PY'
import subprocess, sys
build = sys.argv[1]
for doc, prog in (("docs/simulator.md", "herd-sim"), ("docs/configuration.md", "herd"),
                  ("docs/node.md", "herd-node")):
    table = subprocess.run([f"{build}/{prog}", "--help-markdown"], check=True,
                           capture_output=True, text=True).stdout
    text = open(doc).read()
    head, rest = text.split("<!-- options:begin", 1)
    begin_line, rest = rest.split("\n", 1)
    _, tail = rest.split("<!-- options:end -->", 1)
    open(doc, "w").write(head + "<!-- options:begin" + begin_line + "\n" + table +
                         "<!-- options:end -->" + tail)
PY
echo "docs: option tables updated"
