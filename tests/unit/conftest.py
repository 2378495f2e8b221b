"""Shared settings for the unit tests: a fast, deterministic Hypothesis profile."""

from hypothesis import HealthCheck, settings

# 150 examples per property keeps the whole unit suite well under a minute on two cores;
# `deadline=None` because the first call of a numpy function can be slow on a busy machine.
settings.register_profile(
    "xent",
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("xent")
