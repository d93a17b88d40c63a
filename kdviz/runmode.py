"""How the environment configures a run: quick mode, yes/no flags and folders named by variables.

Quick mode is on when ``KDVIZ_QUICK`` says yes (1, true, yes, on) or when pytest is running
(``PYTEST_CURRENT_TEST``); it shrinks workloads, never code paths. ``KDVIZ_FRAMES`` says yes when the lessons run
for the course site: each widget panel then also draws its frames (kdviz.widgets.frames).
"""

import functools
import os
from pathlib import Path

YES, NO = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def env_flag(name):
    """True or False for a yes/no variable: unset, empty, 0, false, no and off mean no (any case), and
    1, true, yes and on mean yes; anything else is a ValueError naming the variable."""
    value = os.environ.get(name, "").strip().lower()
    if value in NO:
        return False
    if value in YES:
        return True
    raise ValueError(f"{name}={os.environ[name]!r} is neither yes nor no: use 1 or 0 (true/false, yes/no, on/off)")


@functools.cache
def _absolute(text):
    return Path(text).expanduser().absolute()


def env_folder(name):
    """The folder a variable names, or None when it is unset or empty. A relative path is taken from the
    working folder at the first use of that value, so a later change of working folder does not move it."""
    value = os.environ.get(name, "")
    return _absolute(value) if value.strip() else None


def quick_mode():
    """True when the notebooks should shrink their work (under test or KDVIZ_QUICK=1)."""
    return env_flag("KDVIZ_QUICK") or "PYTEST_CURRENT_TEST" in os.environ


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise: ``epochs = pick(full=30, quick=2)``."""
    return quick if quick_mode() else full


def frames_wanted():
    """True when widget panels should carry their frames for the course site (``KDVIZ_FRAMES``: yes/no)."""
    return env_flag("KDVIZ_FRAMES")
