"""The shape the code promises: docs/ARCHITECTURE.md names every module, and the protocol core stays I/O-free.

Both hold by reading the tree (``ast``, no imports run), so a new module left
out of the table, or a web framework reached from ``vpsmcp.protocol``, fails
here with the file and the line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.helpers.support import ROOT

PACKAGE = ROOT / "vpsmcp"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"

# What the protocol core may not reach: web frameworks and servers, OAuth, and modules that do I/O.
NOT_IN_THE_CORE = {"quart", "flask", "werkzeug", "hypercorn", "h11", "authlib", "socket", "ssl", "subprocess",
                   "http", "urllib", "sqlite3", "os", "shutil", "pathlib", "select", "selectors"}
# The parts of vpsmcp the core may import: itself, the errors, the scope names, the version.
CORE_MAY_IMPORT = ("vpsmcp.protocol", "vpsmcp.errors", "vpsmcp.scopes")


def modules_in_the_tree() -> set[str]:
    return {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}


def modules_in_the_table() -> set[str]:
    """Every module a row of the table names; a bare name shares the directory of the name before it."""
    named: set[str] = set()
    for line in ARCHITECTURE.read_text().splitlines():
        if not line.startswith("| `"):
            continue
        directory = ""
        for entry in re.findall(r"`([^`]+)`", line.split(" | ")[0]):
            if "/" in entry:
                directory = entry.rsplit("/", 1)[0] + "/" if not entry.endswith("/") else entry.rsplit("/", 2)[0] + "/"
            if entry.endswith(".py"):
                named.add(entry if "/" in entry else directory + entry)
    return named


def test_the_architecture_table_names_every_module_and_only_modules_that_exist() -> None:
    tree, table = modules_in_the_tree(), modules_in_the_table()
    unnamed = {m for m in tree - table if not (m.endswith("__init__.py") or m == "__main__.py")}
    assert not unnamed, f"modules docs/ARCHITECTURE.md does not name: {sorted(unnamed)}"
    assert not table - tree, f"docs/ARCHITECTURE.md names modules that do not exist: {sorted(table - tree)}"


def imports_of(path: Path, package: str | None = None) -> list[tuple[int, str]]:
    """(line, module) for every import in a file, relative ones resolved against its package."""
    found = []
    package = package or ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]  # a module or a name in one
    return found


def test_the_protocol_core_imports_no_web_framework_no_io_and_no_transport() -> None:
    wrong = []
    for path in sorted((PACKAGE / "protocol").rglob("*.py")):
        for line, module in imports_of(path):
            top = module.split(".")[0]
            if top in NOT_IN_THE_CORE:
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            elif top == "vpsmcp" and module != "vpsmcp.__version__" and not module.startswith(CORE_MAY_IMPORT):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module} (outside the core)")
    assert not wrong, "\n".join(wrong)


def test_the_layering_check_sees_what_it_forbids(tmp_path: Path) -> None:
    """The scan above is not vacuous: it finds both kinds of import, absolute and relative."""
    sample = ROOT / "vpsmcp" / "protocol" / "jsonrpc.py"
    modules = {m for _, m in imports_of(sample)}
    assert "json" in modules and "vpsmcp.errors.JsonRpcError" in modules
    relative = tmp_path / "probe.py"
    relative.write_text("from ..transport import endpoint\nfrom . import jsonrpc\nimport socket\n")
    assert {m for _, m in imports_of(relative, "vpsmcp.protocol")} == {"vpsmcp.transport.endpoint",
                                                                      "vpsmcp.protocol.jsonrpc", "socket"}


def test_the_settings_import_nothing_above_them() -> None:
    """``config`` is read by every part, so it may lean only on what sits below it (no lazy escapes either)."""
    below = ("vpsmcp.config.settings", "vpsmcp.errors", "vpsmcp.tool_names")
    wrong = [f"{path.name}:{line} imports {module}"
             for path in (PACKAGE / "config" / "sections.py", PACKAGE / "config" / "settings.py")
             for line, module in imports_of(path)
             if module.startswith("vpsmcp") and not module.startswith(below)]
    assert not wrong, "\n".join(wrong)


def test_the_drawn_error_tree_holds_every_error_class_where_it_sits() -> None:
    """errors.py draws the tree; every ``VpsmcpError`` subclass the code defines is in it, under its parent."""
    import importlib
    import pkgutil

    import vpsmcp
    from vpsmcp import errors

    for module in pkgutil.walk_packages(vpsmcp.__path__, "vpsmcp."):
        importlib.import_module(module.name)
    drawn: dict[str, str] = {}  # class -> parent, read off the indentation of the drawing
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(\s*(?:[│ ]\s*)*)(?:[├└]── )?([A-Z]\w+Error\w*|[A-Z]\w+(?:Refused|Unavailable|Required))\b", line)
        if not match or not line.startswith("    "):
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[name] = stack[-1][1] if stack else ""
        stack.append((depth, name))

    def subclasses(cls: type[Exception]) -> list[type[Exception]]:
        found: list[type[Exception]] = []
        for sub in cls.__subclasses__():
            found += [sub, *subclasses(sub)]
        return found

    defined = {c.__name__: c.__bases__[0].__name__ for c in subclasses(errors.VpsmcpError)
               if c.__module__.startswith("vpsmcp.")}
    assert {name: drawn.get(name) for name in defined} == defined, "errors.py's drawing is not the code's tree"


def test_each_package_lists_its_files_in_its_init() -> None:
    """A newcomer opens a package's ``__init__`` and finds every file of it named, a line each."""
    unlisted = []
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        listed = set(re.findall(r"^\s+([a-z_]+\.py)\b", doc, re.M)) | set(re.findall(r"\b([a-z_]+\.py)\b", doc))
        unlisted += [f"{init.parent.name}/{p.name}" for p in sorted(init.parent.glob("*.py"))
                     if p.name != "__init__.py" and p.name not in listed]
    assert not unlisted, f"files their package's __init__ does not list: {unlisted}"


def test_the_tests_mirror_the_packages_and_helpers_stand_apart() -> None:
    """A test lives in the directory of the package it tests (or clients/, deploy/ for what spans
    them); helpers, plugins and upstream servers hold no tests."""
    tests = ROOT / "tests"
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    beyond = {"clients", "deploy"}  # real clients end to end; what ships
    apart = {"helpers", "plugins", "upstreams", "fixtures"}
    misplaced = [str(p.relative_to(tests)) for p in tests.rglob("test_*.py")
                 if p.parent != tests and p.parent.name not in packages | beyond]
    misplaced += [str(p.relative_to(tests)) for p in tests.glob("test_*.py") if p.name != "test_architecture.py"]
    mixed = [str(p.relative_to(tests)) for d in apart for p in (tests / d).glob("test_*.py")]
    assert not misplaced and not mixed, (misplaced, mixed)
    assert {d.name for d in tests.iterdir() if d.is_dir() and d.name != "__pycache__"} <= packages | beyond | apart
