"""The import graph keeps the layers of docs/architecture.md ("Layers").

Built by reading every module of fieldwork/ and offline_sync/ with `ast`: every import counts,
at module level or inside a function, under `if TYPE_CHECKING:` or not; relative imports are
resolved. Four rules, each failing with the list of offending edges:

(a) no cycle between modules;
(b) an import goes down the layer table below, or sideways within the same package (and
    freely among the core modules, and among the data models);
(c) no package imports another package's views module (only the app factory, which
    registers the blueprints) nor a `_private` name of another package;
(d) every module is placed in the table: a new package must be given its layer.

Run against another checkout: `python tests/test_architecture.py /path/to/checkout`.
"""

from __future__ import annotations

import ast
import fnmatch
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("fieldwork", "offline_sync")

# Bottom → top. (name, flat, patterns): a pattern is a module, a package (its modules too) or
# a glob; "fieldwork" names the app factory module alone. The most specific pattern wins: an
# exact module, then a glob, then the longest package. In a flat layer any module may import
# any other of the layer (the cycle rule still holds); elsewhere only modules of the same
# package may import each other sideways.
LAYERS: list[tuple[str, bool, list[str]]] = [
    ("core", True, [
        "fieldwork.extensions", "fieldwork.dbtypes", "fieldwork.timeutil", "fieldwork.errors",
        "fieldwork.records", "fieldwork.config", "fieldwork.csvsafe", "fieldwork.forms_once",
        "fieldwork.formflow", "fieldwork.i18n", "fieldwork.security", "fieldwork.dbsetup",
        "fieldwork.static_delivery", "fieldwork.xlsxin",
        # Pure functions without a project import that core modules need: the key files
        # (config) and coordinate checks (records).
        "fieldwork.privacy.crypto", "fieldwork.places.coords",
    ]),
    ("data", True, [
        "fieldwork.models", "fieldwork.*.models", "offline_sync.models",
        "fieldwork.households.constants",
        # The role names are vocabulary: the User model checks them.
        "fieldwork.access.roles",
    ]),
    ("access", False, ["fieldwork.access"]),
    ("audit", False, ["fieldwork.audit"]),
    ("places, privacy", False, ["fieldwork.places", "fieldwork.privacy"]),
    ("accounts", False, ["fieldwork.accounts"]),
    ("photos", False, ["fieldwork.photos"]),
    ("discovery", False, ["fieldwork.discovery"]),
    ("visits", False, ["fieldwork.visits"]),
    ("households", False, ["fieldwork.households",
                           # the watch list (加强监测): intake's services, named for issue 13
                           "fieldwork.households.intake.watch"]),
    ("supervision", False, ["fieldwork.supervision"]),
    ("sync API", False, ["offline_sync"]),
    ("app parts", False, [
        "fieldwork.templating", "fieldwork.home", "fieldwork.pwa", "fieldwork.health",
        "fieldwork.backup", "fieldwork.devdata",
    ]),
    ("command line", False, ["fieldwork.cli"]),
    ("app factory", False, ["fieldwork"]),
]
APP_FACTORY = "fieldwork"


@dataclass(frozen=True)
class Edge:
    src: str
    dst: str
    name: str  # the imported name ("" for `import x.y` or a module imported by name)
    path: str
    line: int

    def __str__(self) -> str:
        shown = f" [{self.name}]" if self.name else ""
        return f"{self.path}:{self.line} {self.src} -> {self.dst}{shown}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(root, p): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def edges(root: Path) -> tuple[dict[str, Path], list[Edge]]:
    mods = modules(root)
    out: list[Edge] = []
    for mod, path in mods.items():
        rel = path.relative_to(root).as_posix()
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _longest_module(alias.name, mods)
                    if target:
                        out.append(Edge(mod, target, "", rel, node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    if f"{source}.{alias.name}" in mods:  # a submodule imported by name
                        out.append(Edge(mod, f"{source}.{alias.name}", "", rel, node.lineno))
                    elif source in mods:
                        out.append(Edge(mod, source, alias.name, rel, node.lineno))
    return mods, out


def _longest_module(dotted: str, mods: dict[str, Path]) -> str | None:
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in mods:
            return ".".join(parts[:n])
    return None


def layer_of(mod: str) -> int | None:
    """Index in LAYERS of the most specific pattern matching mod, or None."""
    exact, glob, prefix = None, None, (-1, None)
    for i, (_, _, patterns) in enumerate(LAYERS):
        for pat in patterns:
            if pat == mod:
                exact = i
            elif "*" in pat and fnmatch.fnmatchcase(mod, pat):
                glob = i
            elif (pat != APP_FACTORY and mod.startswith(pat + ".")
                  and len(pat) > prefix[0]):
                prefix = (len(pat), i)
    if exact is not None:
        return exact
    if glob is not None:
        return glob
    return prefix[1]


def package_of(mod: str) -> str:
    """The package a module belongs to: fieldwork.<name>, offline_sync, or fieldwork itself."""
    parts = mod.split(".")
    if parts[0] != "fieldwork":
        return parts[0]
    return ".".join(parts[:2])


def cycles(mods: dict[str, Path], graph: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    succ: dict[str, set[str]] = {m: set() for m in mods}
    for e in graph:
        if e.src != e.dst:
            succ[e.src].add(e.dst)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def strongconnect(start: str) -> None:
        nonlocal counter
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(succ[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))

    for m in sorted(mods):
        if m not in index:
            strongconnect(m)
    return found


def cycle_problems(mods: dict[str, Path], graph: list[Edge]) -> list[str]:
    out = []
    for component in cycles(mods, graph):
        inside = set(component)
        loop = [str(e) for e in graph if e.src in inside and e.dst in inside and e.src != e.dst]
        out.append("cycle among " + ", ".join(component) + ":\n    " + "\n    ".join(loop))
    return out


def layer_problems(graph: list[Edge]) -> list[str]:
    out = []
    for e in graph:
        src, dst = layer_of(e.src), layer_of(e.dst)
        if src is None or dst is None or e.src == e.dst:
            continue
        if dst < src:
            continue
        if dst == src and (LAYERS[src][1] or package_of(e.src) == package_of(e.dst)):
            continue
        out.append(f"{e}  ({LAYERS[src][0]} may not import {LAYERS[dst][0]})")
    return out


def is_views(mod: str) -> bool:
    last = mod.rsplit(".", 1)[-1]
    return last == "views" or last.endswith("_views")


def reach_problems(graph: list[Edge]) -> list[str]:
    out = []
    for e in graph:
        other = package_of(e.src) != package_of(e.dst)
        if other and is_views(e.dst) and e.src != APP_FACTORY:
            out.append(f"{e}  (another package's views)")
        private = e.name or e.dst.rsplit(".", 1)[-1]
        if other and private.startswith("_") and not private.startswith("__"):
            out.append(f"{e}  (a private name of another package)")
    return out


def unknown_modules(mods: dict[str, Path]) -> list[str]:
    return [f"{m} ({mods[m]})" for m in sorted(mods) if layer_of(m) is None]


def report(root: Path) -> dict[str, list[str]]:
    mods, graph = edges(root)
    return {
        "cycles": cycle_problems(mods, graph),
        "layers": layer_problems(graph),
        "views and private names": reach_problems(graph),
        "unknown modules": unknown_modules(mods),
    }


def _fail_with(kind: str, problems: list[str]) -> None:
    assert not problems, f"{kind} ({len(problems)}):\n  " + "\n  ".join(problems)


def test_no_import_cycles() -> None:
    mods, graph = edges(ROOT)
    _fail_with("import cycles", cycle_problems(mods, graph))


def test_imports_follow_the_layers() -> None:
    _fail_with("imports against the layers", layer_problems(edges(ROOT)[1]))


def test_no_feature_reaches_into_another_packages_views_or_private_names() -> None:
    _fail_with("imports of views or private names", reach_problems(edges(ROOT)[1]))


def test_every_module_has_a_layer() -> None:
    _fail_with("modules missing from LAYERS", unknown_modules(modules(ROOT)))


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """A small tree with one of each fault: the checks are not blind."""
    pkg = tmp_path / "fieldwork"
    for sub in ("places", "visits", "access", "mystery"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (tmp_path / "offline_sync").mkdir()
    (tmp_path / "offline_sync" / "__init__.py").write_text("")
    (pkg / "places" / "policy.py").write_text(
        "def f():\n    from fieldwork.visits.form import parse_money\n")
    (pkg / "visits" / "form.py").write_text(
        "from ..places import policy\nfrom fieldwork.places.views import _helper\n")
    (pkg / "places" / "views.py").write_text("_helper = 1\n")
    (pkg / "mystery" / "thing.py").write_text("")
    found = report(tmp_path)
    assert any("fieldwork.places.policy" in c and "fieldwork.visits.form" in c
               for c in found["cycles"])
    assert any("fieldwork.places.policy -> fieldwork.visits.form" in p for p in found["layers"])
    reach = "\n".join(found["views and private names"])
    assert "another package's views" in reach and "private name" in reach
    assert any(u.startswith("fieldwork.mystery ") for u in found["unknown modules"])


if __name__ == "__main__":
    target = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    result = report(target)
    for kind, problems in result.items():
        print(f"== {kind}: {len(problems)}")
        for p in problems:
            print("  " + p)
    sys.exit(1 if any(result.values()) else 0)
