"""The package's shape: no import cycle, no oversized file, no suite named outside its own package."""

import ast
import re
from pathlib import Path

import pe_bench
from pe_bench.suites import SUITES

PACKAGE = Path(pe_bench.__file__).parent
MAX_LINES = 300  # a longer file must say why in its docstring ("... lines because ...")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The pe_bench modules ``path`` imports anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}  # "from pkg import submodule"
    return {m for m in found if m in modules}


def test_no_import_cycle_anywhere_in_the_package():
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: imports_of(p, set(files)) - {m} for m, p in files.items()}
    # a package's __init__ importing its own submodules (a registry) is not a cycle back into it
    graph = {m: {d for d in deps if not (d.startswith(m + ".") and files[m].name == "__init__.py")}
             for m, deps in graph.items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, f"import cycles: {cycles}"


def test_no_file_needs_a_table_of_contents():
    too_long = []
    for path in PACKAGE.rglob("*.py"):
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        if lines > MAX_LINES and "lines because" not in doc:
            too_long.append(f"{path.relative_to(PACKAGE)}: {lines}")
    assert not too_long


def test_no_suite_is_named_outside_its_own_package():
    """The runner, CLI, summary and figures loop over the registry; a suite's name in them
    would be a second place to edit when a suite is added."""
    names = "|".join(re.escape(n) for n in SUITES)
    pattern = re.compile(rf"""["']({names})["']""")
    generic = [PACKAGE / "runner.py", PACKAGE / "cli.py", PACKAGE / "suite.py", *(PACKAGE / "results").glob("*.py"),
               PACKAGE / "figures" / "__init__.py", PACKAGE / "figures" / "common.py"]
    named = [f"{p.relative_to(PACKAGE)}: {m.group(0)}" for p in generic for m in pattern.finditer(p.read_text())]
    assert not named
