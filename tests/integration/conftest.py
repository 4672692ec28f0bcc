"""Shared pytest fixtures: the build tree, a private D-Bus system bus, and hvd processes."""
import pathlib
import shutil
import tempfile

import pytest

from hvd_harness import Bus, Hvd, build_dir

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]


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


@pytest.fixture
def hvd(build, bus, workdir):
    """A running hvd on the private bus, state under workdir, kvm on libvirt's test driver."""
    h = Hvd(build, bus, workdir / "hvd")
    h.start()
    yield h
    h.stop()


@pytest.fixture
def make_hvd(build, bus, workdir):
    """Factory for hvd instances with a custom config (started by the test)."""
    made = []

    def factory(config="", name="hvd", **kwargs):
        h = Hvd(build, bus, workdir / name, config=config, **kwargs)
        made.append(h)
        return h

    yield factory
    for h in made:
        h.stop()
