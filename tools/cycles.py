#!/usr/bin/env python3
"""Count the files of src/ that sit in import cycles.

The graph: one node per `.rs` file under src/; an edge A -> B when A names a
`crate::…` path (in a `use` or inline, grouped imports included) that
resolves to B, the deepest file the path reaches (`crate::auth::extract::X`
-> src/auth/extract.rs, `crate::auth::X` -> src/auth/mod.rs). `super::` and
child-relative paths are not edges: a folder's mod.rs and its children
referring to one another is how Rust modules are built, not layering.

A cycle is a strongly connected component of more than one file. The script
prints the number of files in cycles, the components, and the same count at
the level of the top-level modules (`auth`, `users`, …: the layering that
README "Architecture" draws).

Usage: tools/cycles.py [SRC_DIR] [-v]
"""

import re
import sys
from collections import defaultdict
from pathlib import Path

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//", 1)[0] for line in text.splitlines())


def module_of(src: Path, path: Path) -> tuple:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def paths_after(text: str, start: int) -> list:
    """The module paths of a `crate::` tree starting at `start`
    (`a::b::{c, d::e}` -> [a::b::c, a::b::d::e])."""
    out = []

    def tree(i, prefix):
        segs = list(prefix)
        while True:
            m = re.match(r"\s*(" + IDENT + r")", text[i:])
            if m:
                segs.append(m.group(1))
                i += m.end()
                n = re.match(r"\s*::", text[i:])
                if not n:
                    out.append(segs)
                    return i
                i += n.end()
                continue
            b = re.match(r"\s*\{", text[i:])
            if b:
                i += b.end()
                while True:
                    c = re.match(r"\s*\}", text[i:])
                    if c:
                        return i + c.end()
                    i = tree(i, segs)
                    c = re.match(r"\s*,", text[i:])
                    if c:
                        i += c.end()
            out.append(segs)
            return i

    tree(start, [])
    return out


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv
    src = Path(args[0] if args else "src")
    files = sorted(p for p in src.rglob("*.rs"))
    by_module = {module_of(src, p): p for p in files}

    def resolve(segs):
        for n in range(len(segs), 0, -1):
            if tuple(segs[:n]) in by_module:
                return by_module[tuple(segs[:n])]
        return None

    edges = defaultdict(set)
    for f in files:
        text = strip_comments(f.read_text())
        for m in re.finditer(r"\bcrate::", text):
            for segs in paths_after(text, m.end()):
                target = resolve(segs)
                if target is not None and target != f:
                    edges[f].add(target)

    comps = scc(files, edges)
    cyclic = [c for c in comps if len(c) > 1]
    n_files = sum(len(c) for c in cyclic)
    print(f"files: {len(files)}; in import cycles: {n_files} "
          f"({len(cyclic)} component(s), largest {max((len(c) for c in cyclic), default=0)})")
    if verbose:
        for c in sorted(cyclic, key=len, reverse=True):
            print("  ", len(c), " ".join(sorted(str(p.relative_to(src)) for p in c)))

    top = lambda p: (module_of(src, p) or ("lib",))[0]
    tops = sorted({top(f) for f in files})
    tedges = defaultdict(set)
    for a, bs in edges.items():
        for b in bs:
            if top(a) != top(b):
                tedges[top(a)].add(top(b))
    tcomps = [c for c in scc(tops, tedges) if len(c) > 1]
    print(f"top-level modules: {len(tops)}; in import cycles: {sum(len(c) for c in tcomps)}"
          + "".join(f"\n   {len(c)}: {' '.join(sorted(c))}" for c in tcomps))


def scc(nodes, edges):
    """Tarjan, iterative."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()), key=str)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ()), key=str))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(comp)
    return out


if __name__ == "__main__":
    main()
