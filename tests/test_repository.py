"""Repository hygiene: clean notebooks, and CI running exactly what the README promises."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_a_kernelspec(path):
    nb = json.loads(path.read_text())
    assert "kernelspec" in nb["metadata"], "JupyterLab asks for a kernel without metadata.kernelspec"
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"outputs left in cell: {''.join(cell['source'])[:60]!r}"
            assert cell.get("execution_count") is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_kdviz(path):
    nb = json.loads(path.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert re.search(r"^\s*(import kdviz|from kdviz)", code, re.M)


def quick_start_blocks():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)
    return [[line for line in block.splitlines() if line.strip() and not line.startswith("#")] for block in blocks]


def quick_start_commands():
    return quick_start_blocks()[-1]  # the quick start ends with its two commands


def test_readme_quick_start_is_exactly_two_commands():
    commands = quick_start_commands()
    assert len(commands) == 2
    assert "jupyter lab" in commands[0] and "pytest" in commands[1]


def test_readme_quick_start_makes_a_venv_and_installs_cpu_torch_before_the_two_commands():
    steps = [line for block in quick_start_blocks()[:-1] for line in block]
    assert any("-m venv" in line for line in steps)
    assert any("pip install torch" in line and "download.pytorch.org/whl/cpu" in line for line in steps)


TEST_TOOLS = {"pytest", "nbmake", "hypothesis", "jupyter-repo2docker", "playwright"}


def names(requirements):
    return {re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower() for requirement in requirements}


def test_the_lesson_install_leaves_the_test_tools_to_the_test_extra():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    lessons = names(project["dependencies"] + extras["lab"])
    assert "jupyterlab" in lessons and not lessons & TEST_TOOLS
    assert TEST_TOOLS | {"kdviz"} <= names(extras["test"])  # kdviz[lab]: the tests run the lessons
    first, second = quick_start_commands()
    assert '".[lab]"' in first and '".[test]"' in second


def test_ci_runs_the_readme_test_command_verbatim():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert quick_start_commands()[1] in ci_lines
    assert "pip install --quiet torch==2.13.0" in "\n".join(ci_lines)  # pinned: the CPU build on disk


def links(cell):
    return re.findall(r"\]\((\d\d_[\w]+\.ipynb)\)", "".join(cell["source"]))


@pytest.mark.parametrize("k", range(len(NOTEBOOKS)), ids=[p.name for p in NOTEBOOKS])
def test_previous_and_next_links_at_top_and_bottom(k):
    nb = json.loads(NOTEBOOKS[k].read_text())
    expected = set()
    if k > 0:
        expected.add(NOTEBOOKS[k - 1].name)
    if k + 1 < len(NOTEBOOKS):
        expected.add(NOTEBOOKS[k + 1].name)
    top, bottom = nb["cells"][0], nb["cells"][-1]
    for where, cell in (("top", top), ("bottom", bottom)):
        assert cell["cell_type"] == "markdown"
        found = set(links(cell))
        assert expected <= found, f"{where} of {NOTEBOOKS[k].name} lacks links to {expected - found}"
        assert all((ROOT / "notebooks" / name).exists() for name in found)


def test_start_here_links_every_lesson():
    nb = json.loads((ROOT / "notebooks" / "00_start_here.ipynb").read_text())
    linked = {name for cell in nb["cells"] if cell["cell_type"] == "markdown" for name in links(cell)}
    assert linked >= {p.name for p in NOTEBOOKS[1:]}


@pytest.mark.last
def test_the_run_leaves_the_checkout_as_it_found_it(checkout_changes):
    if checkout_changes is None:
        pytest.skip("not a git checkout (or git is missing): nothing to compare with")
    assert checkout_changes == [], f"the tests changed files in the checkout: {checkout_changes}"
