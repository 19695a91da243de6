"""The layout holds: arrows run one way, no cycles, no mixins, no reaching into others' private state
(docs/ARCHITECTURE.md). Size is a warning, not a rule: a long module that holds one idea is fine.

Every module of the package is parsed, and every import in it counts, also one inside a function or
under `if TYPE_CHECKING:`: a lazy import still ties two modules together.
"""

from __future__ import annotations

import ast
import sys
import warnings
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "roomscribe"
# Generous: past these a module or class is worth a second look (the test warns), not a failure. Splitting
# to meet a count made mixins that share private state, which is worse than a long module.
MAX_MODULE_LINES = 600
MAX_CLASS_LINES = 400
# Third-party packages core may use: the state machine library. Everything else there is stdlib.
CORE_THIRD_PARTY = {"transitions"}
# room -> rooms it must not import. Adapters never reach the owner, the demo or the command line;
# the emulator is its own extra and knows nothing of the daemon.
FORBIDDEN = {
    "audio": {"app", "demo", "cli", "emulator", "outputs", "speech", "config"},
    "speech": {"app", "demo", "cli", "emulator", "outputs", "audio", "config"},
    "outputs": {"app", "demo", "cli", "emulator", "audio", "speech"},
    "system": {"app", "demo", "cli", "emulator", "outputs", "audio", "speech", "config", "core"},
    "config": {"app", "demo", "cli", "emulator", "outputs", "speech"},
    "app": {"demo", "cli", "emulator"},
    "emulator": {"app", "demo", "outputs", "audio", "speech", "config"},
}
# Known exceptions, each with its reason; the test fails once one is no longer needed, so none rots here.
PRIVATE_STATE_EXCEPTIONS: dict[str, str] = {  # "module.Class" or "module.function: expression": why
}
# Modules that must not load the Speech SDK, however deep: the owner is typed against the protocol.
SDK_FREE = {"roomscribe.app.daemon", "roomscribe.speech.session", "roomscribe.outputs.base"}


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def parse_package(package: Path) -> dict[str, tuple[Path, ast.Module]]:
    return {module_name(p, package): (p, ast.parse(p.read_text(), str(p))) for p in sorted(package.rglob("*.py"))}


def imports_of(name: str, tree: ast.Module, modules: set[str], is_package: bool) -> set[str]:
    """Every module this one imports, anywhere in its body. `from package import submodule` is an
    import of the submodule only (Python runs the package's __init__ first, but nothing of it is used)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            submodules = {f"{target}.{alias.name}" for alias in node.names} & modules
            found |= submodules
            if len(submodules) < len(node.names):  # names defined in the module (or package) itself
                found.add(target)
    return found


def graph(package: Path = PACKAGE) -> tuple[dict[str, set[str]], dict[str, set[str]], dict]:
    parsed = parse_package(package)
    names = set(parsed)
    edges, external = {}, {}
    for name, (path, tree) in parsed.items():
        found = imports_of(name, tree, names, path.name == "__init__.py")
        edges[name] = {m for m in found if m in names and m != name}
        external[name] = {m for m in found if m.split(".")[0] != "roomscribe"}
    return edges, external, parsed


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layering_problems(package: Path = PACKAGE) -> list[str]:
    edges, external, parsed = graph(package)
    problems = []
    stdlib = sys.stdlib_module_names
    for name, targets in edges.items():
        home = room(name)
        if home == "core":
            problems += [f"{name} imports {t}: core imports only core" for t in targets if room(t) != "core"]
            problems += [f"{name} imports {m}: core imports only the stdlib and transitions"
                         for m in external[name] if m.split(".")[0] not in stdlib | CORE_THIRD_PARTY | {"__future__"}]
        for target in targets:
            if room(target) in FORBIDDEN.get(home, ()):
                problems.append(f"{name} imports {target}: {home}/ must not import {room(target)}/")
    for start in SDK_FREE & set(edges):
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module in seen:
                continue
            seen.add(module)
            todo += edges.get(module, ())
        for module in seen:
            if any(m.split(".")[0] == "azure" for m in external[module]):
                problems.append(f"{start} loads the Speech SDK through {module}")
    return problems


def cycles(package: Path = PACKAGE) -> list[list[str]]:
    edges, _, _ = graph(package)
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
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

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    return found


def size_problems(package: Path = PACKAGE) -> list[str]:
    problems = []
    for name, (path, tree) in parse_package(package).items():
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            problems.append(f"{name}: {lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_CLASS_LINES:
                    problems.append(f"{name}.{node.name}: {length} lines (at most {MAX_CLASS_LINES})")
    return problems


def test_rooms_import_only_what_they_may():
    assert layering_problems() == []


def test_no_import_cycles_lazy_imports_included():
    assert cycles() == []


def private_state_problems(package: Path = PACKAGE) -> dict[str, str]:
    """Classes that use a private attribute of `self` they neither assign nor define (a mixin living on
    another class's state), and code that reads or writes another object's private attribute.

    Keyed by "module.Class" or "module.function: expression" so exceptions can name them."""
    problems: dict[str, str] = {}
    for name, (_, tree) in parse_package(package).items():
        classes = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        for node in classes.values():
            owned = _owned_names(node)
            for base in node.bases:
                if isinstance(base, ast.Name) and base.id in classes:
                    owned |= _owned_names(classes[base.id])
            borrowed = sorted(_private_self_reads(node) - owned)
            if borrowed:
                problems[f"{name}.{node.name}"] = f"uses private state it does not own: {', '.join(borrowed)}"
        for function in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]:
            same_class = {"other"} if function.name.startswith("__") else set()  # __eq__(self, other)
            for sub in ast.walk(function):
                if (isinstance(sub, ast.Attribute) and _is_private(sub.attr) and not
                        (isinstance(sub.value, ast.Name) and sub.value.id in {"self", "cls", *same_class})):
                    problems[f"{name}.{function.name}: {ast.unparse(sub)}"] = "reaches into another object's private state"
    return problems


def _is_private(attr: str) -> bool:
    return attr.startswith("_") and not attr.startswith("__")


def _owned_names(cls: ast.ClassDef) -> set[str]:
    owned = set()
    for item in cls.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            owned.add(item.name)
        elif isinstance(item, ast.Assign):
            owned.update(t.id for t in item.targets if isinstance(t, ast.Name))
        elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            owned.add(item.target.id)
    for sub in ast.walk(cls):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
            if isinstance(sub.ctx, ast.Store):
                owned.add(sub.attr)
    return owned


def _private_self_reads(cls: ast.ClassDef) -> set[str]:
    return {sub.attr for sub in ast.walk(cls)
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self"
            and isinstance(sub.ctx, ast.Load) and _is_private(sub.attr)}


def test_no_mixins_and_no_reaching_into_private_state():
    found = private_state_problems()
    assert {k: v for k, v in found.items() if k not in PRIVATE_STATE_EXCEPTIONS} == {}
    assert set(PRIVATE_STATE_EXCEPTIONS) <= set(found), "an exception is no longer needed: remove it"


def rig_problems(package: Path = PACKAGE) -> list[str]:
    """What only tests use lives in tests/support/: the package imports nothing of tests/ and runs no thread
    named for testing (the daemon under test was once demo/background.py)."""
    problems = []
    for name, (path, tree) in parse_package(package).items():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tests":
                problems.append(f"{name} imports {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "tests" for a in node.names):
                problems.append(f"{name} imports tests")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and "under-test" in node.value:
                problems.append(f"{name} names {node.value!r}")
    return problems


def test_the_test_rig_is_not_in_the_product():
    assert rig_problems() == []


def strictly_checked(pyproject: Path = PACKAGE.parents[1] / "pyproject.toml") -> list[str]:
    """The module patterns pyproject.toml has mypy check strictly."""
    import tomllib

    overrides = tomllib.loads(pyproject.read_text())["tool"]["mypy"]["overrides"]
    return [module for o in overrides if o.get("disallow_untyped_defs") for module in o["module"]]


def test_every_module_that_defines_a_protocol_is_type_checked_strictly():
    """Its implementations are listed beside it in pyproject.toml (docs/ARCHITECTURE.md, "Seams"): a new
    protocol's module starts the list."""
    import fnmatch

    patterns = strictly_checked()
    defining = {name for name, (_, tree) in parse_package(PACKAGE).items() for node in ast.walk(tree)
                if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id == "Protocol"
                                                          for b in node.bases)}
    assert len(defining) >= 10  # the scan finds them
    assert sorted(m for m in defining if not any(fnmatch.fnmatch(m, p) for p in patterns)) == []


def test_long_modules_and_classes_are_worth_a_look():
    for problem in size_problems():
        warnings.warn(f"{problem}: does it hold one idea? (docs/ARCHITECTURE.md)", stacklevel=1)


# -- the checks find what they are for -----------------------------------------------------------------


@pytest.fixture
def planted(tmp_path):
    """A copy of the package to plant violations in."""
    import shutil

    copy = tmp_path / "roomscribe"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def plant(package: Path, module: str, text: str) -> None:
    path = package / module
    path.write_text(path.read_text() + "\n" + text)


def test_a_core_module_importing_an_adapter_is_found(planted):
    plant(planted, "core/gate.py", "def later():\n    from roomscribe.audio import wavfile\n")
    assert any("core/ imports" in p or "core imports only core" in p for p in layering_problems(planted))


def test_core_importing_a_third_party_package_is_found(planted):
    plant(planted, "core/timeline.py", "import numpy\n")
    assert any("stdlib and transitions" in p for p in layering_problems(planted))


def test_an_adapter_importing_the_owner_is_found(planted):
    plant(planted, "outputs/mqtt/topics.py", "def later():\n    from roomscribe.app import daemon\n")
    assert any("outputs/ must not import app/" in p for p in layering_problems(planted))


def test_the_owner_reaching_the_sdk_is_found(planted):
    plant(planted, "app/publisher.py", "def later():\n    from roomscribe.speech import azure\n")
    assert any("loads the Speech SDK" in p for p in layering_problems(planted))


def test_a_lazy_import_cycle_is_found(planted):
    plant(planted, "core/backoff.py", "def later():\n    from roomscribe.core.machine import MeetingMachine\n")
    assert any("roomscribe.core.backoff" in c for c in cycles(planted))


def test_a_mixin_and_a_reach_into_private_state_are_found(planted):
    plant(planted, "core/backoff.py", "class Borrower:\n    def total(self):\n        return self._count + 1\n\n"
          "def peek(gate):\n    return gate._tail_due\n")
    found = private_state_problems(planted)
    assert "roomscribe.core.backoff.Borrower" in found
    assert "roomscribe.core.backoff.peek: gate._tail_due" in found


def test_the_test_rig_in_the_product_is_found(planted):
    plant(planted, "demo/run.py", "def rig():\n    from tests.support.daemon_harness import DaemonThread\n")
    plant(planted, "app/run.py", 'THREAD = "daemon-under-test"\n')
    assert sorted(rig_problems(planted)) == ["roomscribe.app.run names 'daemon-under-test'",
                                                  "roomscribe.demo.run imports tests.support.daemon_harness"]


def test_a_long_module_and_a_long_class_are_found(planted):
    plant(planted, "core/records.py", "\n".join(["class Big:"] + ["    x = 1"] * (MAX_MODULE_LINES + 20)))
    found = size_problems(planted)
    assert any(p.startswith("roomscribe.core.records:") for p in found)
    assert any(p.startswith("roomscribe.core.records.Big:") for p in found)
