"""Shared pytest fixtures: where the build tree is, and a per-test scratch directory."""
import os
import pathlib

import pytest

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]


def build_dir() -> pathlib.Path:
    """The meson build directory under test (HVD_BUILD_DIR, default <source>/build)."""
    return pathlib.Path(os.environ.get("HVD_BUILD_DIR", SOURCE_ROOT / "build")).resolve()


@pytest.fixture(scope="session")
def build():
    """Path of the meson build directory; fails clearly when it was not built."""
    path = build_dir()
    if not (path / "build.ninja").exists():
        pytest.fail(f"no meson build in {path}: run 'make build' first")
    return path
