"""API fuzzing with an admin token: the other half of test_fuzz.py (see there), in a file of its
own so that it runs on another test worker beside the user half."""

from __future__ import annotations

from typing import Any

from tests.http.test_fuzz import app, fuzz_every_operation

__all__ = ["app"]  # the fixture, shared with test_fuzz.py


def test_every_operation_as_an_admin(app: Any) -> None:
    fuzz_every_operation(app, admin=True)
