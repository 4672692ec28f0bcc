"""pytest fixtures every suite that runs hvd shares: the build tree, a scratch directory, a
private D-Bus system bus and the check for sanitizer reports. A suite's conftest.py imports
them."""
import os
import pathlib
import shutil
import tempfile

import pytest

from hvd_harness import Bus, build_dir, sanitizer_env


@pytest.fixture(scope="session")
def sanitizer_dir():
    """Where the instrumented programs a test runs itself (hvd --check-config, minihv run, ...)
    write sanitizer reports: the whole session's environment points there. An hvd started
    through the harness reports in its own directory instead (Hvd.stop checks that)."""
    path = pathlib.Path(tempfile.mkdtemp(prefix="hvd-sanitizer-"))
    path.chmod(0o1777)
    os.environ.update(sanitizer_env(path / "report"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def no_sanitizer_report(sanitizer_dir):
    """Fails the test during which a sanitizer report appeared in sanitizer_dir."""
    before = set(sanitizer_dir.iterdir())
    yield
    new = sorted(set(sanitizer_dir.iterdir()) - before)
    if new:
        pytest.fail("sanitizer report:\n" + "\n".join(
            f"{f.name}:\n{f.read_text(errors='replace')}" for f in new), pytrace=False)


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
