"""Fixtures of the training tests."""

from pathlib import Path

import pytest

from ..helpers import penguins_encoded


@pytest.fixture
def encoded(tmp_path, monkeypatch) -> Path:
    """A working folder with penguins run through validate..encode."""
    return penguins_encoded(tmp_path, monkeypatch)
