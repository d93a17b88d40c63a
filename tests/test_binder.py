"""mybinder.org builds the image with repo2docker; its --no-build --debug mode prints the Dockerfile
it would use, without a Docker daemon, so we can check what it picks up from binder/."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dockerfile():
    if sys.platform == "win32":
        pytest.skip("repo2docker does not run on Windows (jupyterhub/repo2docker#889: no os.geteuid)")
    exe = shutil.which("repo2docker") or shutil.which("jupyter-repo2docker")
    if exe is None:
        pytest.skip("repo2docker is not installed (pip install jupyter-repo2docker)")
    run = subprocess.run([exe, "--no-build", "--debug", str(ROOT)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout + run.stderr


def test_runtime_txt_sets_the_python_version(dockerfile):
    version = (ROOT / "binder" / "runtime.txt").read_text().strip().removeprefix("python-")
    assert f"python={version}" in dockerfile


def test_binder_requirements_are_installed_after_the_repository_is_copied(dockerfile):
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    assert dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/") < install  # `-e .` needs the sources


def test_post_build_runs(dockerfile):
    assert "RUN ./binder/postBuild" in dockerfile


def test_binder_installs_the_lesson_set_with_cpu_torch():
    lines = [line for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines() if line[:1] not in "#"]
    assert lines == ["--extra-index-url https://download.pytorch.org/whl/cpu", "-e .[lab]"]


def test_post_build_installs_the_news_settings_and_fetches_mnist():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "set -euo pipefail" in post_build and "python -m kdviz fetch" in post_build
    assert 'cp "$(dirname "$0")/overrides.json" "$settings/overrides.json"' in post_build
    assert "get_app_dir()" in post_build  # JupyterLab reads <app dir>/settings/overrides.json
    settings = json.loads((ROOT / "binder" / "overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}


def test_readme_badge_opens_notebook_01_in_jupyterlab_and_names_the_repository_once():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/(\S+)", readme)
    assert len(links) == 1, "the repository Binder launches belongs in one place"
    assert re.fullmatch(r"[\w.-]+/[\w.-]+/HEAD\?urlpath=lab/tree/notebooks/01_softmax_and_temperature\.ipynb", links[0])
    assert "[![Launch on Binder](https://mybinder.org/badge_logo.svg)][binder]" in readme
    assert "\n[binder]: https://mybinder.org/v2/gh/" in readme
