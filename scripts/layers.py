#!/usr/bin/env python3
"""The layering measures, rerunnable by anyone: import circles between source files, files over
the size limit, and the number of integration-test binaries.

    scripts/layers.py            # report; exit 1 when a circle or an oversized file exists
    scripts/layers.py --graph    # also print every file's dependencies

A dependency is any `crate::a::b` path in a file (a `use` line or a path in code), and any
`super::` path, resolved to the file that defines the module. A module's own parent (`mod.rs`
that declares it) is not counted as a dependency of the child: declaring children is how Rust
modules are built, not a layer pointing up. A circle is a strongly connected set of two or more
files.
"""
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each crate's source root: the application, and the core crate under it (crates/core). A crate
# cannot import the crate that depends on it (Cargo refuses the cycle), so circles are counted
# within each crate.
CRATES = [ROOT / "src", ROOT / "crates" / "core" / "src"]
LIMIT = 500


def module_of(path: Path, src: Path) -> tuple:
    rel = path.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def main() -> int:
    all_files, sccs, graph = [], [], []
    for src in CRATES:
        files, circles, lines = crate_graph(src)
        all_files += files
        sccs += circles
        graph += lines
    if "--graph" in sys.argv:
        print("\n".join(graph))
    print(f"import circles: {len(sccs)}")
    for c in sccs:
        print("  " + " <-> ".join(c))
    big = [(len(p.read_text().splitlines()), p) for p in all_files]
    big = sorted((n, p) for n, p in big if n > LIMIT)
    print(f"source files over {LIMIT} lines: {len(big)}")
    for n, p in big:
        print(f"  {p.relative_to(ROOT)}: {n}")
    tests = ROOT / "tests"
    bins = [p for p in tests.glob("*.rs")] + [d for d in tests.iterdir() if (d / "main.rs").exists()]
    print(f"integration-test binaries: {len(bins)} ({', '.join(sorted(b.name for b in bins))})")
    return 1 if sccs or big else 0


def crate_graph(src: Path):
    """One crate's files, its circles (as lists of file names) and its graph lines."""
    files = sorted(p for p in src.rglob("*.rs"))
    mods = {module_of(p, src): p for p in files if p.name != "main.rs"}

    def resolve(path: tuple):
        # the longest prefix of the path that is a module file
        for n in range(len(path), 0, -1):
            if path[:n] in mods:
                return path[:n]
        return None

    # `crate::a::b`, `super::super::a`, and one level of `{x, y::z}` groups after either
    path = re.compile(
        r"\b(crate::|(?:super::)+)((?:[A-Za-z_][A-Za-z0-9_]*::)*)"
        r"(\{[^{}]*\}|[A-Za-z_][A-Za-z0-9_]*)"
    )
    edges = {m: set() for m in mods}
    for m, p in mods.items():
        text = p.read_text()
        # strip comments and the test module (tests may reach anywhere)
        text = re.sub(r"//[^\n]*", "", text)
        cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
        if cut:
            text = text[: cut.start()]
        targets = []
        for g in path.finditer(text):
            head, mid, tail = g.groups()
            base = () if head == "crate::" else m[: len(m) - head.count("super::")]
            base = base + tuple(x for x in mid.split("::") if x)
            items = tail[1:-1].split(",") if tail.startswith("{") else [tail]
            for item in items:
                item = item.strip().split(" as ")[0]
                if item and item != "self":
                    targets.append(base + tuple(item.split("::")))
                elif item == "self":
                    targets.append(base)
        for t in targets:
            r = resolve(t)
            if r is None or r == m:
                continue
            # a child's dependency on its own ancestors' mod.rs is the module tree, not a layer
            if m[: len(r)] == r:
                continue
            edges[m].add(r)

    # strongly connected components (Tarjan)
    index, low, stack, on, sccs = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
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
                sccs.append(sorted(comp))

    for v in edges:
        if v not in index:
            strong(v)

    name = lambda m: str(mods[m].relative_to(ROOT))
    lines = [
        f"{name(m)} -> {', '.join(sorted(name(t) for t in edges[m]))}" for m in sorted(edges)
    ]
    return files, [[name(m) for m in c] for c in sccs], lines


if __name__ == "__main__":
    sys.exit(main())
