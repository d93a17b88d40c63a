"""Which GitHub repository the Binder links launch: the one the course is built from.

``choose_repository(option, root)``: ``--binder-repo OWNER/NAME`` when given; else the GitHub repository of the
checkout's git remote ``origin``; else (no git, no remote, not GitHub) the repository the README's badge names,
said so. ``badge_drift(root)`` says when the README's badge names another repository than ``origin`` (a fork
that has not updated its badge); a test keeps it None.
"""

import re
import subprocess
from pathlib import Path

REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
GITHUB_URL = re.compile(
    r"^(?:https?://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)"
    r"(?P<repository>[^/]+/[^/]+?)(?:\.git)?/?$"
)
README_BADGE = re.compile(r"^\[binder\]: https://mybinder\.org/v2/gh/(?P<repository>[^/\s]+/[^/\s]+)/", re.M)


def checked_repository(text):
    """``text`` if it is an OWNER/NAME of GitHub; else a ValueError saying what one looks like."""
    if not isinstance(text, str) or not REPOSITORY.fullmatch(text) or text.endswith((".git", "/.", "/..")):
        raise ValueError(f"--binder-repo {text!r} is not a GitHub repository: give OWNER/NAME, e.g. kdviz/kdviz")
    return text


def github_repository(url):
    """'OWNER/NAME' from a GitHub remote URL (https, ssh or scp-like), else None."""
    match = GITHUB_URL.match(url.strip())
    if match is None or not REPOSITORY.fullmatch(match["repository"]):
        return None
    return match["repository"]


def origin_url(folder):
    """The URL of the git remote ``origin`` of the checkout at ``folder``; None without git or such a remote."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), "remote", "get-url", "origin"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def readme_repository(root):
    """The OWNER/NAME the README's Binder badge launches; None when the README or its badge is missing."""
    try:
        match = README_BADGE.search(Path(root, "README.md").read_text(encoding="utf-8"))
    except OSError:
        return None
    return match["repository"] if match else None


def choose_repository(option, root):
    """(OWNER/NAME or None, why it was chosen): the option, else origin's, else the README badge's."""
    if option is not None:
        return checked_repository(option), "--binder-repo"
    url = origin_url(root)
    if url is not None and github_repository(url):
        return github_repository(url), "the git remote origin"
    readme = readme_repository(root)
    missing = f"the remote origin ({url}) is not on GitHub" if url else "this checkout has no git remote origin"
    if readme is not None:
        return readme, f"{missing}: the README's badge names it (give --binder-repo OWNER/NAME for another)"
    return None, f"{missing} and the README names none: no Binder links (give --binder-repo OWNER/NAME)"


def badge_drift(root):
    """None when the README's badge launches the repository of git's origin (or there is no GitHub origin);
    else the sentence that says which to change."""
    url = origin_url(root)
    origin = github_repository(url) if url else None
    readme = readme_repository(root)
    if origin is None or readme == origin:
        return None
    return f"README.md's Binder badge launches {readme}, but this checkout's origin is {origin}: change the badge"


def binder_url(repository, notebook_name):
    """mybinder.org link that opens ``notebooks/<notebook_name>`` of ``repository`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repository}/HEAD?urlpath=lab/tree/notebooks/{notebook_name}"
