"""mybinder.org builds the image with repo2docker; its --no-build --debug mode prints the Dockerfile
it would use, without a Docker daemon, so we can check what it picks up from binder/."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def dockerfile():
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


def test_binder_files_say_what_they_must():
    requirements = (ROOT / "binder" / "requirements.txt").read_text()
    assert "download.pytorch.org/whl/cpu" in requirements and "-e ." in requirements
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "set -euo pipefail" in post_build and "python -m kdviz fetch" in post_build


def test_readme_badge_opens_notebook_01_in_jupyterlab():
    readme = (ROOT / "README.md").read_text()
    assert "mybinder.org/v2/gh/" in readme
    assert "?urlpath=lab/tree/notebooks/01_softmax_and_temperature.ipynb" in readme
