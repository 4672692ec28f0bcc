"""Shared pytest fixtures: the build tree, a private D-Bus system bus, and hvd processes."""
import pytest

from fixtures import build, bus, no_sanitizer_report, sanitizer_dir, workdir  # noqa: F401
from hvd_harness import Hvd


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test that used a private libvirtd shows that libvirtd's logs, its guests' QEMU
    logs and hvd's log with its failure."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or not rep.failed:
        return
    args = getattr(item, "funcargs", {})
    for name in ("libvirtd", "libvirtd_nobody"):
        if args.get(name) is not None:
            rep.sections.append((f"{name}'s logs", args[name].report()))
    if "libvirtd" in args and isinstance(args.get("kvm_hvd"), Hvd):
        tail = "\n".join(args["kvm_hvd"].read_log().splitlines()[-60:])
        rep.sections.append(("hvd's log, last lines", tail))


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
