"""Mutations need root or the admin group, as polkit or (where polkit is unreachable) hvd itself
decides from the credentials the bus vouches for; reads are open to everyone."""
import signal
import subprocess
import sys
import textwrap

import pytest

from hvd_harness import POLKIT_BUS_POLICY, POLKITD, Bus, Polkitd, wait_for


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

# What each mutation leaves behind when it is allowed: (domain, state or None when gone,
# autostart or None when not checked).
EFFECTS = {
    "create": ("intruder", "shutoff", None),
    "start": ("victim", "running", None),
    "stop": ("victim", "shutoff", None),
    "destroy": ("victim", "shutoff", None),
    "pause": ("victim", "paused", None),
    "resume": ("victim", "running", None),
    "reboot": ("victim", "running", None),
    "delete": ("victim", None, None),
    "set": ("victim", "shutoff", True),
}

FALLBACK_REFUSAL = "only root and members of group 'hvd' may"
POLKIT_REFUSAL = "polkit does not authorize org.hvd1.manage-domains"


def prepare(h, args):
    """Creates a fresh victim in the state args[0] needs (as root); returns args naming it."""
    h.hvctl("delete", "victim")
    h.hvctl("delete", "intruder")
    h.hvctl("create", "victim", check=True)
    if args[0] in ("stop", "destroy", "pause", "reboot", "resume"):
        h.hvctl("start", "victim", check=True)
    if args[0] == "resume":
        h.hvctl("pause", "victim", check=True)
    return args


def clean(h):
    for name in ("victim", "intruder"):
        h.hvctl("destroy", name)
        h.hvctl("delete", name)


def assert_refused(h, args, reason):
    prepare(h, args)
    before = h.hvctl_json("list", "--all")
    p = h.hvctl(*args, user="nobody")
    assert p.returncode == 1, (args, p.stdout + p.stderr)
    assert "uid 65534 may not" in p.stderr, (args, p.stderr)
    assert reason in p.stderr, (args, p.stderr)
    assert h.hvctl_json("list", "--all") == before, args
    clean(h)


def assert_allowed(h, args):
    prepare(h, args)
    p = h.hvctl(*args, user="nobody")
    assert p.returncode == 0, (args, p.stderr)
    name, state, autostart = EFFECTS[args[0]]
    domains = {d["name"]: d for d in h.hvctl_json("list", "--all")}
    if state is None:
        assert name not in domains, args
    else:
        assert domains[name]["state"] == state, (args, domains[name])
    if autostart is not None:
        assert h.hvctl_json("info", name)["autostart"] is autostart, args
    clean(h)


def authorization(h):
    for line in h.hvctl("host", check=True).stdout.splitlines():
        if line.startswith("authorization: "):
            return line[len("authorization: "):]
    return None


def test_nobody_can_read(hvd):
    hvd.hvctl("create", "victim", check=True)
    for args in (["list", "--all"], ["info", "victim"], ["host"]):
        p = hvd.hvctl(*args, user="nobody")
        assert p.returncode == 0, (args, p.stderr)
    assert "victim" in hvd.hvctl("list", "--all", user="nobody").stdout


@pytest.mark.parametrize("args", MUTATIONS, ids=lambda a: a[0])
def test_nobody_cannot_mutate(hvd, args):
    assert authorization(hvd) == "admin group hvd (polkit unreachable)"
    assert_refused(hvd, args, FALLBACK_REFUSAL)


def test_admin_group_members_may_mutate(make_hvd):
    # nobody's primary group is nogroup (65534): make it the admin group.
    h = make_hvd(config="[daemon]\nadmin-group = nogroup\n").start()
    for args in MUTATIONS:
        assert_allowed(h, args)


# A caller that changes its groups between connecting to the bus and calling: hvd goes by what
# the bus recorded at connect time, not by what /proc says at call time.
CHANGES_GROUPS = textwrap.dedent("""
    import os, sys
    import dbus
    connect_groups, call_groups = ([int(g) for g in a.split(",") if g] for a in sys.argv[2:4])
    os.setgid(65534)
    os.setgroups(connect_groups)
    os.seteuid(65534)
    conn = dbus.bus.BusConnection(sys.argv[1])
    os.seteuid(0)
    os.setgroups(call_groups)
    os.seteuid(65534)
    manager = dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1"), "org.hvd1.Manager")
    try:
        manager.CreateDomain(dbus.Dictionary({"name": sys.argv[4]}, signature="sv"))
        print("allowed")
    except dbus.exceptions.DBusException as e:
        print(e.get_dbus_name(), e.get_dbus_message())
""")


@pytest.mark.parametrize("connect_groups,call_groups,allowed", [
    ("", "100", False),   # joined the admin group after connecting: not counted
    ("100", "", True),    # left it after connecting: the bus's record still counts
    ("100", "100", True),
    ("", "", False),
], ids=["gained", "dropped", "kept", "never"])
def test_groups_are_those_the_bus_recorded(make_hvd, connect_groups, call_groups, allowed):
    h = make_hvd(config="[daemon]\nadmin-group = users\n").start()  # users: gid 100
    p = subprocess.run([sys.executable, "-c", CHANGES_GROUPS, h.bus.address, connect_groups,
                        call_groups, "probe"], capture_output=True, text=True, timeout=30,
                       env=h.env())
    assert p.returncode == 0, p.stderr
    if allowed:
        assert p.stdout.strip() == "allowed"
        assert [d["name"] for d in h.hvctl_json("list", "--all")] == ["probe"]
    else:
        assert p.stdout.startswith("org.hvd1.Error.AccessDenied uid 65534 may not create"), p.stdout
        assert h.hvctl_json("list", "--all") == []


# Calls one D-Bus method as nobody: the methods hvctl reaches another way (Manager.DeleteDomain,
# Domain.Delete) or not without a terminal (OpenConsole).
CALL_AS_NOBODY = textwrap.dedent("""
    import os, sys
    import dbus
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
    conn = dbus.bus.BusConnection(sys.argv[1])
    manager = dbus.Interface(conn.get_object("org.hvd1", "/org/hvd1"), "org.hvd1.Manager")
    path = manager.GetDomain(sys.argv[3])
    domain = dbus.Interface(conn.get_object("org.hvd1", path), "org.hvd1.Domain")
    try:
        if sys.argv[2] == "DeleteDomain":
            manager.DeleteDomain(sys.argv[3])
        else:
            getattr(domain, sys.argv[2])()
        print("allowed")
    except dbus.exceptions.DBusException as e:
        print(e.get_dbus_name(), e.get_dbus_message())
""")

BUS_ONLY_METHODS = ["DeleteDomain", "Delete", "OpenConsole"]


def call_as_nobody(h, method, name):
    p = subprocess.run([sys.executable, "-c", CALL_AS_NOBODY, h.bus.address, method, name],
                       capture_output=True, text=True, timeout=30, env=h.env())
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


needs_polkitd = pytest.mark.skipif(not POLKITD.exists() or not POLKIT_BUS_POLICY.exists(),
                                   reason="polkitd is not installed (Debian package polkitd)")


@pytest.fixture
def polkit_bus(workdir):
    """A private system bus on which polkitd may run."""
    b = Bus(workdir / "pkbus", extra_policies=[POLKIT_BUS_POLICY])
    b.start()
    yield b
    b.stop()


@pytest.fixture
def make_polkitd(polkit_bus, workdir):
    made = []

    def factory(extra_rules=None):
        p = Polkitd(polkit_bus, workdir / f"polkit{len(made)}", extra_rules).start()
        made.append(p)
        return p
    yield factory
    for p in made:
        p.stop()


@pytest.fixture
def make_polkit_hvd(build, polkit_bus, workdir):
    from hvd_harness import Hvd
    made = []

    def factory(config=""):
        h = Hvd(build, polkit_bus, workdir / f"hvd{len(made)}", config=config).start()
        made.append(h)
        return h
    yield factory
    for h in made:
        h.stop()


@needs_polkitd
def test_polkit_refuses_nobody(make_polkitd, make_polkit_hvd):
    make_polkitd()
    h = make_polkit_hvd()
    assert authorization(h) == "polkit"
    for args in MUTATIONS:
        assert_refused(h, args, POLKIT_REFUSAL)
    h.hvctl("create", "victim", check=True)
    for method in BUS_ONLY_METHODS:
        answer = call_as_nobody(h, method, "victim")
        assert answer.startswith("org.hvd1.Error.AccessDenied uid 65534 may not"), (method, answer)
        assert POLKIT_REFUSAL in answer, (method, answer)
    assert [d["name"] for d in h.hvctl_json("list", "--all")] == ["victim"]


@needs_polkitd
def test_polkit_allows_the_admin_group(make_polkitd, make_polkit_hvd):
    make_polkitd()
    h = make_polkit_hvd("[daemon]\nadmin-group = nogroup\n")
    assert authorization(h) == "polkit"
    for args in MUTATIONS:
        assert_allowed(h, args)
    # a console attach is allowed (it fails later: the domain does not run), deletes succeed
    h.hvctl("create", "victim", check=True)
    answer = call_as_nobody(h, "OpenConsole", "victim")
    assert "AccessDenied" not in answer, answer
    for method in ("Delete", "DeleteDomain"):
        h.hvctl("create", "victim")
        assert call_as_nobody(h, method, "victim") == "allowed"
        assert h.hvctl_json("list", "--all") == []


DENY_NOBODY = """
polkit.addRule(function(action, subject) {
    if (action.id == "org.hvd1.manage-domains" && subject.user == "nobody")
        return polkit.Result.NO;
});
"""


@needs_polkitd
def test_polkit_rules_decide_over_the_group(make_polkitd, make_polkit_hvd):
    """A local rule that refuses nobody wins over nobody's membership of the admin group; once
    polkitd is gone, hvd falls back to the group and nobody may again."""
    pk = make_polkitd({"40-deny-nobody.rules": DENY_NOBODY})
    h = make_polkit_hvd("[daemon]\nadmin-group = nogroup\n")
    assert_refused(h, ["create", "intruder"], POLKIT_REFUSAL)
    pk.stop()
    wait_for(lambda: authorization(h) == "admin group nogroup (polkit unreachable)",
             what="hvd to notice polkitd is gone")
    assert_allowed(h, ["create", "intruder"])


@needs_polkitd
def test_polkit_gone_falls_back_to_the_group(make_polkitd, make_polkit_hvd):
    pk = make_polkitd()
    h = make_polkit_hvd()
    assert authorization(h) == "polkit"
    pk.stop()
    wait_for(lambda: authorization(h) != "polkit", what="hvd to notice polkitd is gone")
    assert authorization(h) == "admin group hvd (polkit unreachable)"
    for args in MUTATIONS:
        assert_refused(h, args, FALLBACK_REFUSAL)
    h.config_path.write_text("[daemon]\nadmin-group = nogroup\n" + h.config_path.read_text())
    h.signal(signal.SIGHUP)
    wait_for(lambda: authorization(h) == "admin group nogroup (polkit unreachable)",
             what="hvd to reload")
    for args in MUTATIONS:
        assert_allowed(h, args)
    # polkitd back, with a rule refusing nobody: polkit decides again
    make_polkitd({"40-deny-nobody.rules": DENY_NOBODY})
    wait_for(lambda: authorization(h) == "polkit", what="hvd to see polkitd again")
    assert_refused(h, ["create", "intruder"], POLKIT_REFUSAL)
