"""Mutations need root or the admin group; reads are open to everyone."""
import pytest


MUTATIONS = [
    ["create", "intruder"],
    ["start", "victim"],
    ["stop", "victim"],
    ["destroy", "victim"],
    ["pause", "victim"],
    ["resume", "victim"],
    ["reboot", "victim"],
    ["delete", "victim"],
    ["set", "victim", "--autostart"],
]


def test_nobody_can_read(hvd):
    hvd.hvctl("create", "victim", check=True)
    for args in (["list", "--all"], ["info", "victim"], ["host"]):
        p = hvd.hvctl(*args, user="nobody")
        assert p.returncode == 0, (args, p.stderr)
    assert "victim" in hvd.hvctl("list", "--all", user="nobody").stdout


@pytest.mark.parametrize("args", MUTATIONS, ids=lambda a: a[0])
def test_nobody_cannot_mutate(hvd, args):
    hvd.hvctl("create", "victim", check=True)
    if args[0] in ("stop", "destroy", "pause", "reboot"):
        hvd.hvctl("start", "victim", check=True)
    if args[0] == "resume":
        hvd.hvctl("start", "victim", check=True)
        hvd.hvctl("pause", "victim", check=True)
    before = hvd.hvctl_json("list", "--all")
    p = hvd.hvctl(*args, user="nobody")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "uid 65534 may not" in p.stderr
    assert "only root and members of group 'hvd' may" in p.stderr
    assert hvd.hvctl_json("list", "--all") == before


def test_admin_group_members_may_mutate(make_hvd):
    # nobody's primary group is nogroup (65534): make it the admin group.
    h = make_hvd(config="[daemon]\nadmin-group = nogroup\n").start()
    p = h.hvctl("create", "mine", user="nobody")
    assert p.returncode == 0, p.stderr
    assert h.hvctl("start", "mine", user="nobody").returncode == 0
    assert h.hvctl_json("info", "mine")["state"] == "running"
