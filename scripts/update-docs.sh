#!/usr/bin/env bash
# Regenerates the option tables in docs/ from the programs' --help-markdown, and the man pages
# in man/ from their templates and --help-man (a test checks they match). Run after changing a settings table: scripts/update-docs.sh [BUILD_DIR]
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
version = subprocess.run([f"{build}/herd", "--version"], check=True, capture_output=True,
                         text=True).stdout.split()[1]
for prog in ("herd", "herd-node", "herd-sim"):
    options = subprocess.run([f"{build}/{prog}", "--help-man"], check=True, capture_output=True,
                             text=True).stdout
    page = open(f"man/{prog}.1.in").read()
    page = page.replace("@VERSION@", version).replace("@OPTIONS@\n", options)
    header = ".\\\" Generated from man/%s.1.in by scripts/update-docs.sh; edit that file.\n" % prog
    open(f"man/{prog}.1", "w").write(header + page)
PY
echo "docs: option tables and man pages updated"
