"""Test-wide settings: hypothesis profiles, registered once for unit and integration tests.

Pick one with `HYPOTHESIS_PROFILE` (`make test` uses `ci`): `ci` is derandomized and bounded so
the suite fits its time budget on two cores; `dev` explores more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=25,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "dev",
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# airbyte-cdk's standard test suite collects its scenarios through these hooks.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]
