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


def test_binder_installs_the_lesson_set_with_the_readmes_cpu_torch():
    lines = [line for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines() if line[:1] not in "#"]
    readme = (ROOT / "README.md").read_text()
    version, index = re.search(r"pip install torch==(\S+) --index-url (\S+)", readme).groups()
    assert lines == [f"--extra-index-url {index}", f"torch=={version}+cpu", "-e .[lab]"]


def test_post_build_installs_the_news_settings_and_fetches_mnist():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "set -euo pipefail" in post_build and "python -m kdviz fetch" in post_build
    assert 'cp "$(dirname "$0")/overrides.json" "$settings/overrides.json"' in post_build
    assert "get_app_dir()" in post_build  # JupyterLab reads <app dir>/settings/overrides.json
    settings = json.loads((ROOT / "binder" / "overrides.json").read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}


@pytest.mark.skipif(shutil.which("bash") is None, reason="postBuild is a bash script")
def test_post_build_finishes_when_mnist_cannot_be_fetched(tmp_path):
    """An outage of every MNIST mirror must not fail the image's build: postBuild says so and goes on."""
    shim = tmp_path / "bin" / "python"
    shim.parent.mkdir()
    shim.write_text(  # JupyterLab's app folder is asked for first; then `python -m kdviz fetch` fails as offline
        '#!/bin/bash\nif [ "$1" = "-c" ]; then echo "$APP_DIR"; exit 0; fi\n'
        'echo "error: could not download MNIST (Name or service not known)" >&2; exit 2\n'
    )
    shim.chmod(0o755)
    env = {"PATH": f"{shim.parent}:/usr/bin:/bin", "APP_DIR": str(tmp_path / "app")}
    done = subprocess.run(["bash", str(ROOT / "binder" / "postBuild")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "the lessons will download it on first use" in done.stderr
    assert (tmp_path / "app" / "settings" / "overrides.json").read_text() == (
        ROOT / "binder" / "overrides.json"
    ).read_text()


def test_the_readme_badge_launches_the_repository_of_the_git_origin():
    """A fork's badge cannot go on launching the original: the site takes origin's repository, so must the README."""
    from kdviz.course.binder import badge_drift

    assert badge_drift(ROOT) is None


@pytest.mark.parametrize(
    ("url", "repository"),
    [
        ("https://github.com/someone/fork.git", "someone/fork"),
        ("https://github.com/someone/fork", "someone/fork"),
        ("git@github.com:someone/fork.git", "someone/fork"),
        ("ssh://git@github.com/some-one/fork.name.git", "some-one/fork.name"),
        ("https://token@github.com/someone/fork/", "someone/fork"),
        ("https://gitlab.com/someone/fork.git", None),
        ("/srv/git/kdviz.git", None),
    ],
)
def test_a_github_remote_gives_owner_and_name(url, repository):
    from kdviz.course.binder import github_repository

    assert github_repository(url) == repository


@pytest.mark.skipif(shutil.which("git") is None, reason="git is missing")
def test_the_binder_repository_follows_origin_else_the_readme_and_the_badge_check_sees_a_fork(tmp_path):
    from kdviz.course.binder import badge_drift, choose_repository

    (tmp_path / "README.md").write_text("[binder]: https://mybinder.org/v2/gh/kdviz/kdviz/HEAD?urlpath=lab\n")
    no_git = choose_repository(None, tmp_path)
    assert no_git[0] == "kdviz/kdviz" and "no git remote origin" in no_git[1]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:someone/fork.git"], check=True
    )
    assert choose_repository(None, tmp_path) == ("someone/fork", "the git remote origin")
    assert choose_repository("other/one", tmp_path) == ("other/one", "--binder-repo")
    assert "launches kdviz/kdviz, but this checkout's origin is someone/fork" in badge_drift(tmp_path)
    (tmp_path / "README.md").write_text("[binder]: https://mybinder.org/v2/gh/someone/fork/HEAD?urlpath=lab\n")
    assert badge_drift(tmp_path) is None
    (tmp_path / "README.md").unlink()
    subprocess.run(["git", "-C", str(tmp_path), "remote", "set-url", "origin", "https://gitlab.com/a/b"], check=True)
    repository, why = choose_repository(None, tmp_path)
    assert repository is None and "is not on GitHub" in why and "no Binder links" in why


def test_readme_badge_opens_notebook_01_in_jupyterlab_and_names_the_repository_once():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"https://mybinder\.org/v2/gh/(\S+)", readme)
    assert len(links) == 1, "the repository Binder launches belongs in one place"
    assert re.fullmatch(r"[\w.-]+/[\w.-]+/HEAD\?urlpath=lab/tree/notebooks/01_softmax_and_temperature\.ipynb", links[0])
    assert "[![Launch on Binder](https://mybinder.org/badge_logo.svg)][binder]" in readme
    assert "\n[binder]: https://mybinder.org/v2/gh/" in readme
