"""Tests of what an optional install provides: CI installs it, so there its absence fails the
test; elsewhere the test skips, saying how to install it."""
import os

import pytest


def need(check, missing: type[Exception], ci_installs: str) -> None:
    """Run `check`; if it raises `missing`, fail under CI (which installs `ci_installs`), else skip."""
    try:
        check()
    except missing as e:
        if os.environ.get("CI"):
            pytest.fail(f"CI installs {ci_installs}: {e}")
        pytest.skip(str(e))
