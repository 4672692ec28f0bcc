"""pytest fixtures every suite that runs hvd shares: the build tree, a scratch directory and a
private D-Bus system bus. A suite's conftest.py imports them."""
import pathlib
import shutil
import tempfile

import pytest

from hvd_harness import Bus, build_dir


@pytest.fixture(scope="session")
def build():
    """Path of the meson build directory; fails clearly when it was not built."""
    path = build_dir()
    if not (path / "build.ninja").exists():
        pytest.fail(f"no meson build in {path}: run 'make build' first")
    return path


@pytest.fixture
def workdir():
    """A scratch directory that unprivileged users can traverse (for tests run as nobody)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="hvd-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def bus(workdir):
    """A real dbus-daemon configured like a system bus, with hvd's policy installed."""
    b = Bus(workdir / "bus")
    b.start()
    yield b
    b.stop()
