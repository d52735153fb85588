#!/usr/bin/env bash
# Checks the conventions a compiler does not: banned calls, modules that call one way, and the
# committed clang-format style.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
banned=$(grep -rnE '\b(sprintf|strcpy|strcat|gets|strtok|atoi)\s*\(' src tests --include='*.c' --include='*.h' | grep -v snprintf || true)
if [ -n "$banned" ]; then
  echo "lint: banned calls (use snprintf, bounded copies, strtol):"
  echo "$banned"
  status=1
fi
# Modules call one way: no include circle, and every header speaks for its own .c file.
if ! python3 scripts/module_graph.py; then
  echo "lint: the modules of src/ must depend on each other one way (scripts/module_graph.py --print shows the graph)"
  status=1
fi
if command -v clang-format >/dev/null 2>&1; then
  if ! find src tests -name '*.[ch]' -print0 | xargs -0 clang-format --dry-run -Werror 2>/tmp/herd-format.txt; then
    echo "lint: files differ from .clang-format (run: find src tests -name '*.[ch]' | xargs clang-format -i):"
    grep -E '^[^ ].*: (error|warning)' /tmp/herd-format.txt | cut -d: -f1 | sort -u
    status=1
  fi
fi
[ $status -eq 0 ] && echo "lint: ok"
exit $status
