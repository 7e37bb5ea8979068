#!/usr/bin/env python3
"""Module graph of the weft crate: which file uses which, and the cycles.

Reads `runtime/src` as text: every `use` tree and every inline
`crate::`/`super::` path, resolved to the longest module that exists.
Prints the folder-level arrows, then the strongly connected components
(cycles) at file level and at folder level. Test modules (`mod tests`
bodies after `#[cfg(test)]`) are skipped. A developer tool: CI does not
run it.

    python3 scripts/modgraph.py [runtime/src]
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "runtime/src"


def module_of(path):
    rel = os.path.relpath(path, ROOT)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def files():
    for d, _, fs in os.walk(ROOT):
        for f in fs:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def strip(src):
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r'"(?:\\.|[^"\\])*"', '""', src)
    # drop `#[cfg(test)] mod tests { ... }` bodies
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\((?:all\()?test[^\]]*\]\s*mod\s+\w+\s*\{", src):
        if m.start() < i:
            continue
        out.append(src[i:m.start()])
        depth, j = 1, m.end()
        while j < len(src) and depth:
            depth += {"{": 1, "}": -1}.get(src[j], 0)
            j += 1
        i = j
    out.append(src[i:])
    return "".join(out)


def expand(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]"""
    tree = tree.strip()
    m = re.match(r"^(.*?)\{(.*)\}$", tree, re.S)
    if not m:
        return [re.sub(r"\s+as\s+\w+$", "", tree)]
    head, body = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    parts.append(cur)
    out = []
    for p in parts:
        if p.strip():
            for e in expand(p):
                out.append((head + e).replace("::self", ""))
    return out


def resolve(mod, path, modules):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] == "super":
        base = mod
        # a mod.rs module's `super` is its parent, as for a file module
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    elif segs[0] == "self":
        base, segs = mod, segs[1:]
    else:
        return None
    best = base if base in modules else None
    for k in range(1, len(segs) + 1):
        cand = base + tuple(segs[:k])
        if cand in modules:
            best = cand
    return best


def main():
    paths = {module_of(p): p for p in files()}
    modules = set(paths)
    edges = {m: set() for m in modules}
    for mod, p in paths.items():
        src = strip(open(p).read())
        refs = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)::[^;]*);", src):
            refs += expand(m.group(1))
        for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", src):
            refs.append(m.group(1))
        for r in refs:
            t = resolve(mod, r, modules)
            if t is not None and t != mod and t != ():
                edges[mod].add(t)

    def name(m):
        return "::".join(m) or "lib"

    def scc(nodes, adj):
        index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

        def visit(v):
            index[v] = low[v] = n[0]
            n[0] += 1
            stack.append(v)
            on.add(v)
            for w in adj.get(v, ()):
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
        for v in sorted(nodes):
            if v not in index:
                visit(v)
        return out

    def folder(m):
        # a top-level module, or one level deeper under `runtime` (the
        # runtime's internals are each a node of their own)
        if not m:
            return "lib"
        if m[0] == "runtime" and len(m) > 1:
            return "runtime::" + m[1]
        return m[0]

    fedges = {}
    for a, bs in edges.items():
        for b in bs:
            fa, fb = folder(a), folder(b)
            if fa != fb:
                fedges.setdefault(fa, set()).add(fb)
    print("## folder arrows")
    for a in sorted(fedges):
        print(f"{a} -> {', '.join(sorted(fedges[a]))}")
    print("\n## folder cycles")
    for c in scc(set(fedges) | {b for bs in fedges.values() for b in bs}, fedges):
        print(" <-> ".join(c))
    print("\n## file cycles")
    for c in scc(modules, edges):
        print(f"{len(c)} files: " + ", ".join(name(m) for m in c))


if __name__ == "__main__":
    main()
