#!/usr/bin/env python3
"""Checks that the modules of src/ call one way.

A module is a .c/.h pair (src/coord/route.c and src/coord/route.h), or a lone file. Module A
depends on module B when a file of A includes B's header. The check fails when:
  - the dependencies make a circle (A needs B, and B, directly or not, needs A);
  - a header declares a function that its own .c file does not define (a header that speaks
    for other files hides their dependencies, and with them the circles).

  scripts/module_graph.py            check; prints what is wrong, exits 1 if anything is
  scripts/module_graph.py --print    also prints each module's dependencies
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SRC = os.path.join(ROOT, "src")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# A prototype at file scope: a line starting in column 0 with a type, a name and "(", up to the
# ";" that ends it. Definitions end with "{" instead.
PROTO = re.compile(r"^(?!static\b|typedef\b|#|extern\b|struct\s+\w+\s*\{|enum\b|union\b)"
                   r"[A-Za-z_][\w\s\*]*?\b([A-Za-z_]\w*)\s*\(([^;{]*?)\)\s*;", re.M | re.S)
DEFN = re.compile(r"^(?!static\b)[A-Za-z_][\w\s\*]*?\b([A-Za-z_]\w*)\s*\([^;{]*?\)\s*\{",
                  re.M | re.S)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def module_of(rel):
    return os.path.splitext(rel)[0]


def main():
    files = {}
    for d, _, names in os.walk(SRC):
        for n in names:
            if n.endswith((".c", ".h")):
                p = os.path.join(d, n)
                files[os.path.relpath(p, SRC)] = strip_comments(open(p, encoding="utf-8").read())
    deps = {}
    for rel, text in files.items():
        m = module_of(rel)
        deps.setdefault(m, set())
        for inc in INCLUDE.findall(text):
            if inc in files and module_of(inc) != m:
                deps[m].add(module_of(inc))

    problems = []
    # Headers speak for their own .c only.
    for rel, text in sorted(files.items()):
        if not rel.endswith(".h"):
            continue
        c_file = rel[:-2] + ".c"
        # An interface header may be implemented per platform: sysinfo.h by sysinfo_linux.c.
        impls = [c_file] if c_file in files else [
            f for f in sorted(files) if f.startswith(rel[:-2] + "_") and f.endswith(".c")]
        defined = set()
        for f in impls:
            defined |= set(DEFN.findall(files[f]))
        for name, _ in PROTO.findall(text):
            if name not in defined:
                where = " or ".join("src/" + f for f in impls) or f"src/{c_file} (missing)"
                problems.append(f"src/{rel} declares {name}(), which {where} does not define")

    # Circles: strongly connected components of more than one module (Tarjan).
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(deps.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(deps):
        if v not in index:
            visit(v)
    for comp in out:
        inside = set(comp)
        ties = [f"{a} -> {b}" for a in comp for b in sorted(deps[a]) if b in inside]
        problems.append(f"include circle of {len(comp)} modules: {', '.join(comp)} "
                        f"({'; '.join(ties)})")

    if "--print" in sys.argv:
        for m in sorted(deps):
            print(f"{m}: {' '.join(sorted(deps[m]))}")
    for p in problems:
        print("module_graph: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
