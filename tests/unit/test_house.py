"""House rules, checked on the real tree so that they fail the suite the day they break (issue 10, point 8).

- no module in revsearch/ over 450 lines;
- no import cycle inside revsearch/ (function-level and type-only imports count: they hide a cycle, not remove it);
- only revsearch/collection/ speaks SQL or touches a connection (revsearch/, ui/, app_pages/, app.py are checked);
- nothing in revsearch/ imports streamlit;
- no import cycle in the app either (ui/, app_pages/, app.py), function-level imports included;
- the app reaches the engine through its public functions, never a store of revsearch/collection/;
- revsearch/collection/ imports no model code (embed, indexing, images, torch, onnxruntime, PIL): it stores vectors,
  it does not make them;
- benchmarks/ use the public API only: of revsearch/collection/ they import the package and the names its __init__
  exports in `__all__` (`from revsearch.collection import Collection` is fine), never one of its modules
  (`from revsearch.collection import vector_index`, `from revsearch.collection.rows import NewRow`); every other
  revsearch module is public.

The checkers are plain functions over a folder, and the tests at the bottom run them on small synthetic trees first,
so that a check which could never fail cannot hide here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "revsearch"
MAX_LINES = 450
SQL_OWNER = "collection"
APP = (ROOT / "ui", ROOT / "app_pages", ROOT / "app.py")
BENCHMARKS = ROOT / "benchmarks"
# Every module of the catalog package but its public face (the package and `collection.py`), so a new store is
# covered the day it is added.
STORES = tuple(f"revsearch.collection.{path.stem}" for path in sorted((ROOT / "revsearch" / "collection").glob("*.py"))
               if path.stem not in ("__init__", "collection"))
MODEL_CODE = ("revsearch.embed", "revsearch.indexing", "revsearch.images", "revsearch.regions", "torch", "torchvision",
              "onnxruntime", "PIL")
SQL_PATTERN = re.compile(r"\.execute(many|script)?\(|\bconn\b|^\s*(import sqlite3\b|from sqlite3 import\b)")


def python_files(top: Path) -> list[Path]:
    """Every .py file under `top` (or `top` itself when it is a file), caches left out."""
    if top.is_file():
        return [top]
    return sorted(p for p in top.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path, package_dir: Path) -> str:
    """`pkg/sub/__init__.py` → `pkg.sub`, `pkg/sub/mod.py` → `pkg.sub.mod`."""
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


# ---- (a) long modules ------------------------------------------------------------------------------------------------

def long_modules(package_dir: Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """(path relative to the package's parent, line count) of every module over `limit` lines."""
    found = []
    for path in python_files(package_dir):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append((path.relative_to(package_dir.parent).as_posix(), lines))
    return found


# ---- (b) import cycles -----------------------------------------------------------------------------------------------

def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]) -> set[str]:
    """The package's modules an import statement reaches: `from m import name` reaches `m.name` when that is a
    module, else `m`; `import a.b.c` reaches its deepest module."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    return {target for name in names if (target := _resolve(name, modules)) is not None}


def _resolve(name: str, modules: set[str]) -> str | None:
    """The deepest module along a dotted name (`pkg.mod.attr` → `pkg.mod`), None outside the package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(*tops: Path) -> dict[str, set[str]]:
    """Module → the modules among `tops` (packages, folders of scripts, single files) it imports, anywhere in its
    body (functions, `if TYPE_CHECKING`).

    An edge goes to the module named, not to the parent packages Python also initialises on the way: a submodule
    that imports a sibling is not in a cycle with its package's `__init__` for that alone.
    """
    paths = {module_name(p, top): p for top in tops for p in python_files(top)}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                targets |= _targets(node, module, path.name == "__init__.py", set(paths))
        graph[module] = targets - {module}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(components, key=lambda c: (-len(c), c))


# ---- (c) SQL outside collection/, (d) streamlit in the backend -------------------------------------------------------

def sql_outside_owner(tops: list[Path], owner: Path) -> list[str]:
    """`file:line: text` of every line outside `owner` that runs SQL, names a connection or imports sqlite3."""
    found = []
    for top in tops:
        for path in python_files(top):
            if owner in path.parents:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.lstrip().startswith("#") and SQL_PATTERN.search(line):
                    found.append(f"{path.relative_to(owner.parents[1]).as_posix()}:{number}: {line.strip()}")
    return found


def streamlit_imports(package_dir: Path) -> list[str]:
    """`file:line` of every import of streamlit (or a submodule of it) inside the package."""
    found = []
    for path in python_files(package_dir):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                found.append(f"{path.relative_to(package_dir.parent).as_posix()}:{node.lineno}")
    return found


def imported_modules(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in a file, anywhere in its body; relative imports made absolute."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module if path.name == "__init__.py" else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    parent = parent.rpartition(".")[0]
                base = f"{parent}.{base}" if base else parent
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def banned_imports(top: Path, root: Path, banned: tuple[str, ...]) -> list[str]:
    """`file:line: module` of every import under `top` (a folder or a file; module names relative to `root`) that
    reaches a module in `banned` or inside one."""
    found = []
    for path in python_files(top):
        for line, name in imported_modules(path, module_name(path, root / "_")):
            if any(name == b or name.startswith(b + ".") for b in banned):
                found.append(f"{path.relative_to(root).as_posix()}:{line}: {name}")
    return found


def exported_names(package_init: Path) -> set[str]:
    """The names a package's `__init__.py` lists in `__all__` (read from its source, nothing imported)."""
    for node in ast.parse(package_init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {ast.literal_eval(item) for item in node.value.elts}
    return set()


def imports_past_exports(top: Path, root: Path, package: str, exported: set[str]) -> list[str]:
    """`file:line: module` of every import under `top` that reaches inside `package` past its exported names: the
    package itself and `package.NAME` for NAME in `exported` are allowed, anything else under `package.` is not."""
    allowed = {package} | {f"{package}.{name}" for name in exported}
    return [found for found in banned_imports(top, root, (package,)) if found.rpartition(": ")[2] not in allowed]


# ---- the real tree ---------------------------------------------------------------------------------------------------

def test_no_module_in_revsearch_is_over_450_lines() -> None:
    if offenders := long_modules(PACKAGE):
        pytest.fail(f"split these modules (house limit {MAX_LINES} lines): "
                    + ", ".join(f"{path} ({lines} lines)" for path, lines in offenders), pytrace=False)


def test_no_import_cycle_inside_revsearch() -> None:
    if cycles := import_cycles(import_graph(PACKAGE)):
        pytest.fail("import cycles inside revsearch/ (modules that reach each other): "
                    + "; ".join("{" + ", ".join(cycle) + "}" for cycle in cycles), pytrace=False)


def test_only_revsearch_collection_speaks_sql() -> None:
    tops = [PACKAGE, ROOT / "ui", ROOT / "app_pages", ROOT / "app.py"]
    if offenders := sql_outside_owner(tops, PACKAGE / SQL_OWNER):
        files = sorted({line.split(":")[0] for line in offenders})
        pytest.fail(f"SQL or a connection outside revsearch/{SQL_OWNER}/ in {', '.join(files)}:\n"
                    + "\n".join(offenders), pytrace=False)


def test_nothing_in_revsearch_imports_streamlit() -> None:
    if offenders := streamlit_imports(PACKAGE):
        pytest.fail("revsearch/ must not import streamlit: " + ", ".join(offenders), pytrace=False)


def test_no_import_cycle_in_the_app() -> None:
    if cycles := import_cycles(import_graph(*APP)):
        pytest.fail("import cycles in ui/, app_pages/, app.py: "
                    + "; ".join("{" + ", ".join(cycle) + "}" for cycle in cycles), pytrace=False)


def test_the_app_reaches_no_store() -> None:
    if offenders := [found for top in APP for found in banned_imports(top, ROOT, STORES)]:
        pytest.fail("the app uses the engine's public functions, not revsearch/collection/'s stores: "
                    + ", ".join(offenders), pytrace=False)


def test_collection_imports_no_model_code() -> None:
    if offenders := banned_imports(PACKAGE / "collection", ROOT, MODEL_CODE):
        pytest.fail("revsearch/collection/ stores vectors and runs no model; move these imports to revsearch/indexing/: "
                    + ", ".join(offenders), pytrace=False)


def test_benchmarks_use_only_the_public_api_of_collection() -> None:
    exported = exported_names(PACKAGE / "collection" / "__init__.py")
    assert "Collection" in exported  # the rule below reads the real exports
    if offenders := imports_past_exports(BENCHMARKS, ROOT, "revsearch.collection", exported):
        pytest.fail("benchmarks/ use revsearch's public API: from revsearch.collection only "
                    f"{', '.join(sorted(exported))}; use a public function instead of: " + ", ".join(offenders),
                    pytrace=False)


# ---- the checkers themselves, on synthetic trees ---------------------------------------------------------------------

def _tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_long_modules_names_only_the_module_over_the_limit(tmp_path: Path) -> None:
    package = _tree(tmp_path, {"pkg/__init__.py": "", "pkg/short.py": "x = 1\n" * 450,
                               "pkg/sub/long.py": "x = 1\n" * 451})
    assert long_modules(package) == [("pkg/sub/long.py", 451)]


def test_a_cycle_through_a_function_level_relative_import_is_found(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg.b import helper\n",
        "pkg/b.py": "def helper():\n    from . import a\n    return a\n",
        "pkg/c.py": "import pkg.a\n",
    })
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == {"pkg.a"}
    assert import_cycles(graph) == [["pkg.a", "pkg.b"]]


def test_a_longer_cycle_across_subpackages_is_found_and_attributes_resolve_to_their_module(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli/__init__.py": "from pkg.cli import run\n",
        "pkg/cli/run.py": "from ..bench import Bench\n",
        "pkg/bench.py": "from pkg.core import engine\n",
        "pkg/core/__init__.py": "",
        "pkg/core/engine.py": "if False:\n    from pkg.cli.run import main\n",
    })
    graph = import_graph(package)
    assert graph["pkg.cli.run"] == {"pkg.bench"}
    assert graph["pkg.bench"] == {"pkg.core.engine"}
    assert import_cycles(graph) == [["pkg.bench", "pkg.cli.run", "pkg.core.engine"]]


def test_a_package_importing_its_submodules_is_not_a_cycle(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/cli/__init__.py": "from pkg.cli import engine, common\nfrom . import quality\n",
        "pkg/cli/engine.py": "from pkg.cli.common import add_json\nimport os\n",
        "pkg/cli/common.py": "import json\n",
        "pkg/cli/quality.py": "from .common import add_json\n",
    })
    graph = import_graph(package)
    assert graph["pkg.cli"] == {"pkg.cli.engine", "pkg.cli.common", "pkg.cli.quality"}
    assert import_cycles(graph) == []


def test_importing_a_name_from_a_package_init_that_imports_you_is_a_cycle(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store/__init__.py": "from pkg.store.sync import sync\nCollection = object\n",
        "pkg/store/sync.py": "from pkg.store import Collection\n",
    })
    assert import_cycles(import_graph(package)) == [["pkg.store", "pkg.store.sync"]]


def test_sql_is_found_outside_the_owner_and_allowed_inside_it(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/collection/db.py": "import sqlite3\ndef f(conn):\n    conn.execute('SELECT 1')\n",
        "pkg/labels.py": "def f(coll):\n    return coll.conn.execute('SELECT 1')\n",
        "pkg/clean.py": "# conn.execute is not for us\nconnection_count = 1\nexecutor = None\n",
        "pkg/bulk.py": "def f(cur):\n    cur.executemany('INSERT', [])\n",
        "ui/view.py": "from sqlite3 import connect\n",
        "app.py": "import sqlite3\n",
    })
    found = sql_outside_owner([package, tmp_path / "ui", tmp_path / "app.py"], package / "collection")
    assert found == ["pkg/bulk.py:2: cur.executemany('INSERT', [])",
                     "pkg/labels.py:2: return coll.conn.execute('SELECT 1')",
                     "ui/view.py:1: from sqlite3 import connect",
                     "app.py:1: import sqlite3"]


def test_streamlit_imports_are_found_in_any_form(tmp_path: Path) -> None:
    package = _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/ok.py": "import streamlit_like\nfrom . import streamlit\n",
        "pkg/a.py": "import streamlit as st\n",
        "pkg/b.py": "def f():\n    from streamlit.runtime import exists\n",
    })
    assert streamlit_imports(package) == ["pkg/a.py:1", "pkg/b.py:2"]


@pytest.mark.parametrize("line", ["import sqlite3", "    x = self.conn", "db.executescript(s)", "c.execute("])
def test_sql_pattern_matches_each_form(line: str) -> None:
    assert SQL_PATTERN.search(line)


def test_banned_imports_are_found_at_any_depth_and_through_relative_imports(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store/__init__.py": "from pkg.store.rows import Row\n",
        "pkg/store/rows.py": "import numpy\nfrom pkg.errors import Oops\n",
        "pkg/store/db.py": "def f():\n    from ..embed import model\n    import PIL.Image\n",
        "pkg/store/ok.py": "from pkg.embedding_names import NAMES\n",
    })
    assert banned_imports(tmp_path / "pkg" / "store", tmp_path, ("pkg.embed", "PIL")) == [
        "pkg/store/db.py:2: pkg.embed.model", "pkg/store/db.py:3: PIL.Image"]


def test_a_cycle_between_a_folder_of_scripts_a_package_and_a_file_is_found(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "ui/__init__.py": "",
        "ui/views.py": "from ui import detail\n",
        "ui/detail.py": "def f():\n    from ui.views import grid\n",
        "pages/search.py": "from ui import views\n",
        "app.py": "import ui.detail\n",
    })
    graph = import_graph(tmp_path / "ui", tmp_path / "pages", tmp_path / "app.py")
    assert graph["pages.search"] == {"ui.views"} and graph["app"] == {"ui.detail"}
    assert import_cycles(graph) == [["ui.detail", "ui.views"]]


def test_imports_past_a_package_exports_are_found_in_any_form(tmp_path: Path) -> None:
    _tree(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/store/__init__.py": "from pkg.store.core import Store\nfrom pkg.store.rows import Row\n"
                                 "__all__ = ['Store', 'Row']\n",
        "pkg/store/core.py": "", "pkg/store/rows.py": "", "pkg/store/index.py": "",
        "bench/ok.py": "from pkg.store import Store, Row\nimport pkg.store\nfrom pkg import store, search\n",
        "bench/a.py": "from pkg.store import Store, index\n",
        "bench/b.py": "def f():\n    from pkg.store.rows import Row\n    import pkg.store.index\n",
        "bench/c.py": "from pkg.store import helper\n",  # not exported (a stale name, or one a module defines)
    })
    exported = exported_names(tmp_path / "pkg" / "store" / "__init__.py")
    assert exported == {"Store", "Row"}
    assert imports_past_exports(tmp_path / "bench", tmp_path, "pkg.store", exported) == [
        "bench/a.py:1: pkg.store.index", "bench/b.py:2: pkg.store.rows.Row", "bench/b.py:3: pkg.store.index",
        "bench/c.py:1: pkg.store.helper"]
