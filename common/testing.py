"""Helpers for tests: waiting on a condition with a deadline, never on a fixed timer."""

from __future__ import annotations

import time

import pytest


def poll_until(condition, *, timeout: float, interval: float = 0.05, message: str = ""):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {message or condition}")
        time.sleep(interval)
