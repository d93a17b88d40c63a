"""Quick mode: smaller workloads under test, the same code path.

Quick mode is on when ``KDVIZ_QUICK=1`` or when pytest is running (``PYTEST_CURRENT_TEST``).
"""

import os


def quick_mode():
    """True when the notebooks should shrink their work (under test or KDVIZ_QUICK=1)."""
    return os.environ.get("KDVIZ_QUICK", "") not in ("", "0") or "PYTEST_CURRENT_TEST" in os.environ


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise: ``epochs = pick(full=30, quick=2)``."""
    return quick if quick_mode() else full
