"""The house: every kdviz module sits in one room, rooms sit on floors in the order data flows (checks, the
mathematics, the MNIST engine, the lessons' experiments, figures, widgets and exercises, course tooling, the
command line), and no module imports one on a higher floor or in a cycle. Notebooks call few modules, and the
numpy core and the command line load without torch."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kdviz"

# room: (floor, the modules it holds: a name, or a package and everything in it)
ROOMS = {
    "ground": (0, ["kdviz._checks", "kdviz._files", "kdviz.runmode"]),
    "mathematics": (
        1,
        ["kdviz", "kdviz.temperature", "kdviz.gradients", "kdviz.calibration", "kdviz.verify", "kdviz.language"],
    ),
    "seed rule": (1, ["kdviz.noise"]),
    "MNIST engine": (2, ["kdviz.mnist"]),
    "lessons": (
        3,
        ["kdviz.mnist_distillation", "kdviz.dark_knowledge", "kdviz.beyond_the_paper", "kdviz.language_models"],
    ),
    "figures": (4, ["kdviz.figures"]),
    "widgets": (5, ["kdviz.widgets"]),
    "exercises": (5, ["kdviz.exercises"]),
    "course tooling": (6, ["kdviz.course"]),
    "command line": (7, ["kdviz.__main__"]),
}
MAX_NOTEBOOK_MODULES = 6  # the lesson's own handful, and kdviz.exercises for the exercises at its end


def modules():
    """{dotted name: path} of every module of the package."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def room_of(module):
    """The room holding ``module``: the longest name or package of ROOMS that it is or lies in."""
    holders = [
        (len(name), room)
        for room, (_, names) in ROOMS.items()
        for name in names
        if module == name or (name != "kdviz" and module.startswith(name + "."))
    ]
    return max(holders)[1] if holders else None


def imports(module, path, known):
    """The kdviz modules that ``module`` imports anywhere in its file (inside functions too)."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.add(full if full in known else target)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in known and name != module}


def graph():
    known = modules()
    return {module: imports(module, path, known) for module, path in known.items()}


def test_every_module_has_a_room():
    assert [module for module in modules() if room_of(module) is None] == []


def upward_arrows(edges):
    """Imports of a module in another room on the same floor or a higher one, as 'a (room) -> b (room)'."""
    upward = []
    for module, targets in edges.items():
        room = room_of(module)
        for target in sorted(targets):
            other = room_of(target)
            if other != room and ROOMS[other][0] >= ROOMS[room][0]:
                upward.append(f"{module} ({room}) -> {target} ({other})")
    return upward


def test_no_module_imports_a_higher_floor_or_a_sibling_room():
    assert upward_arrows(graph()) == []


def test_the_import_graph_has_no_cycle():
    edges, state, cycles = graph(), {}, []

    def visit(module, path):
        state[module] = "open"
        for target in sorted(edges[module]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checks_would_see_an_upward_import():
    """The room test is not vacuous: the numpy core importing a figure, or widgets importing exercises, is caught."""
    edges = graph()
    edges["kdviz.temperature"] = edges["kdviz.temperature"] | {"kdviz.figures.softmax"}
    edges["kdviz.widgets.lab"] = edges["kdviz.widgets.lab"] | {"kdviz.exercises.quiz"}
    assert upward_arrows(edges) == [
        "kdviz.temperature (mathematics) -> kdviz.figures.softmax (figures)",
        "kdviz.widgets.lab (widgets) -> kdviz.exercises.quiz (exercises)",
    ]


@pytest.mark.parametrize("notebook", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda path: path.stem)
def test_a_notebook_calls_few_kdviz_modules(notebook):
    known = modules()
    used = set()
    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse("\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kdviz":
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used.update(alias.name for alias in node.names if alias.name.split(".")[0] == "kdviz")
    assert used <= set(known), f"{notebook.name} imports a module kdviz does not have: {used - set(known)}"
    assert len(used) <= MAX_NOTEBOOK_MODULES, f"{notebook.name} imports from {len(used)} modules: {sorted(used)}"


def test_the_numpy_core_and_the_command_line_load_without_torch():
    code = (
        "import sys, kdviz, kdviz.temperature, kdviz.gradients, kdviz.calibration, kdviz.noise, kdviz.__main__ as cli; "
        "cli.build_parser(); print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
