"""Shared pytest fixtures: the build tree, a private D-Bus system bus, and hvd processes."""
import pytest

from fixtures import build, bus, no_sanitizer_report, sanitizer_dir, workdir  # noqa: F401
from hvd_harness import Hvd


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
    problems = []
    for h in made:  # every one is stopped before the first problem is raised
        try:
            h.stop()
        except AssertionError as e:
            problems.append(str(e))
    if problems:
        raise AssertionError("\n".join(problems))
