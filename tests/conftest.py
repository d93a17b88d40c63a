import os

from hypothesis import settings

# CI runs a fixed set of examples (no flaky reruns); `--hypothesis-profile=thorough` explores more.
settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
