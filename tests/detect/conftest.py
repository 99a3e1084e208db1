"""Fixtures for the detect tests."""

from __future__ import annotations

from pathlib import Path

import pytest

MEDIA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "media").resolve()


@pytest.fixture
def media() -> Path:
    if not (MEDIA / "images").is_dir():
        pytest.skip(f"real media not found at {MEDIA} (the shared folder is not part of a clone)")
    return MEDIA
