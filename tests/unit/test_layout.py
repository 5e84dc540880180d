"""The house rules of the source tree, read with `ast`: no import cycle in explainer/, imports point down (the
order docs/architecture.md states, the library never imports the command layer or Streamlit, the model files import
nothing from loading, views import no torch), few modules beside the subpackages, thin pages, and no reference to
files outside the repository."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGE = ROOT / "explainer"
PAGES = next(p for p in (ROOT / "pages", ROOT / "app_pages") if p.is_dir())


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The explainer module an imported dotted name lands in (a module, or the package holding the name)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path) -> Iterator[tuple[str, int]]:
    """(explainer module imported, line) for every import in the file, function-level ones included."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from explainer.x import y`: y may be a submodule or a name defined in explainer.x
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "explainer" or name.startswith("explainer."):
                target = resolve(name)
                if target:
                    yield target, node.lineno


GRAPH = {name: {target for target, _ in imports_of(path)} - {name} for name, path in MODULES.items()}


def test_no_import_cycle_in_explainer():
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(GRAPH[node]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def offenders(sources: str, forbidden: str) -> list[str]:
    """Modules under `sources` importing anything under `forbidden`."""
    return sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name == sources or name.startswith(sources + ".")
        for target in targets
        if target == forbidden or target.startswith(forbidden + ".")
    )


@pytest.mark.parametrize(
    "sources, forbidden",
    [
        ("explainer.models", "explainer.loading"),
        ("explainer.models", "explainer.training"),
        ("explainer.data", "explainer.loading"),
        ("explainer.views", "explainer.ui"),
        ("explainer.views", "explainer.report"),
        ("explainer.thought_beacon", "explainer.training"),
    ],
)
def test_imports_point_down(sources, forbidden):
    assert offenders(sources, forbidden) == []


# The order docs/architecture.md states ("Imports point down"), lowest level first: a module may import its own
# package, a package on its own level or any lower one. Each package of explainer/ has one place.
LEVELS = [
    {"families", "lazy", "frozen", "owner", "progress"},  # the top-level helpers
    {"models", "data"},
    {"loading"},
    {"capture", "serving"},
    {  # the analyses
        "attention",
        "attribution",
        "thought_beacon",
        "causal",
        "counterfactual",
        "evaluation",
        "dataset_map",
        "training",
        "scale",
    },
    {"views"},
    {"report"},  # builds its pages with the views
    {"ui"},  # the sidebar's "Download report"
]
LEVEL = {package: level for level, packages in enumerate(LEVELS) for package in packages}
ON_TOP = {"explainer", "__main__", "cli", "bench"}  # the public API and the command layer: nothing below imports them
READ_FROM_BELOW = {"explainer.views.text"}  # the one stated exception: pure string helpers the analyses read too


def package_of(module: str) -> str:
    """explainer.capture.tracing -> capture; explainer.families -> families; the package itself -> explainer."""
    return module.split(".")[1] if "." in module else module


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports against the stated order, or naming a package the order does not place."""
    wrong = []
    for name, targets in graph.items():
        source = package_of(name)
        if source in ON_TOP:
            continue
        for target in targets:
            imported = package_of(target)
            if imported == source or target in READ_FROM_BELOW:
                continue
            if source not in LEVEL or (imported not in LEVEL and imported not in ON_TOP):
                wrong.append(f"{name} imports {target}: {source if source not in LEVEL else imported} has no level")
            elif imported in ON_TOP or LEVEL[imported] > LEVEL[source]:
                wrong.append(f"{name} imports {target}")
    return sorted(wrong)


def test_every_package_has_its_place_in_the_stated_order():
    assert {package_of(name) for name in MODULES} - ON_TOP == set(LEVEL)


def test_imports_follow_the_stated_order():
    assert upward_imports(GRAPH) == []


def test_the_order_check_refuses_an_upward_import():
    assert upward_imports({"explainer.report.building": {"explainer.views.report"}}) == []
    assert upward_imports({"explainer.ui.session": {"explainer.report"}}) == []
    assert upward_imports({"explainer.views.report": {"explainer.report.building"}}) == [
        "explainer.views.report imports explainer.report.building"
    ]
    assert upward_imports({"explainer.causal.patching": {"explainer.views.attention"}}) != []
    assert upward_imports({"explainer.capture.tracing": {"explainer"}}) != []


def test_only_the_command_layer_imports_commands_and_benches():
    command_layer = ("explainer.cli", "explainer.__main__", "explainer.bench")
    wrong = [
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if not name.startswith(command_layer)
        for target in targets
        if target.startswith(("explainer.cli", "explainer.bench"))
    ]
    assert wrong == []


def test_streamlit_only_in_the_ui_package():
    users = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [module or ""]
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                users.append(name)
    assert users and all(name.startswith("explainer.ui") for name in users), users


def test_views_import_no_torch():
    views = sorted(name for name in MODULES if name.startswith("explainer.views."))
    code = f"import sys\nfor m in {views!r}: __import__(m)\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_few_modules_beside_the_subpackages():
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert len(loose) <= 6, loose
    for folder in PACKAGE.iterdir():
        if folder.is_dir() and folder.name != "__pycache__":
            assert (folder / "__init__.py").is_file(), f"{folder.name}/ is not a package"


def test_pages_are_thin():
    pages = sorted(PAGES.glob("*.py"))
    assert pages
    long = {p.name: n for p in pages if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 150}
    assert long == {}, f"pages over 150 lines do the library's job: {long}"


def test_every_table_draws_a_missing_value_as_a_dash():
    """st.dataframe draws a missing number as a grey "None" (a label with no F1, a slice with no rows, a marker that
    never fired): every table in the app passes placeholder=MISSING."""
    sources = [*PAGES.glob("*.py"), *(PACKAGE / "ui").rglob("*.py")]
    tables, bare = 0, []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "dataframe":
                tables += 1
                given = {k.arg: k.value for k in node.keywords}
                if not (isinstance(given.get("placeholder"), ast.Name) and given["placeholder"].id == "MISSING"):
                    bare.append(f"{path.name}:{node.lineno}")
    assert tables >= 10 and bare == []


def test_pages_stop_through_links_so_a_stopped_run_still_sends_its_link():
    # After st.stop() a run can send nothing, not even through session state: links.stop() sends the link first.
    direct = [p.name for p in sorted(PAGES.glob("*.py")) if "st.stop()" in p.read_text(encoding="utf-8")]
    assert direct == []


def test_no_reference_to_files_outside_the_repository():
    sources = [*PACKAGE.rglob("*.py"), ROOT / "app.py", *PAGES.glob("*.py"), ROOT / "README.md"]
    sources += list((ROOT / "docs").glob("*.md"))
    cited = re.compile(r"DESIGN(\.md| section)|\.\./shared")  # the team's design notes, the data beside the checkout
    mentions = [str(p.relative_to(ROOT)) for p in sources if cited.search(p.read_text(encoding="utf-8"))]
    assert mentions == []
    # The user's documents name no path of the team's machines either (code may say where a bench looks for data)
    documents = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    assert [p.name for p in documents if "shared/data" in p.read_text(encoding="utf-8")] == []
