"""Every legal and illegal lifecycle transition, through hvctl and through D-Bus."""
import dbus
import pytest


def create(hvd, name, *args):
    p = hvd.hvctl("create", name, "--driver", "kvm", "--vcpus", "1", "--memory", "64", *args)
    assert p.returncode == 0, p.stderr
    return p


def state(hvd, name):
    info = hvd.hvctl_json("info", name)
    return info["state"], info["reason"]


def test_create_then_every_legal_transition(hvd):
    create(hvd, "web1")
    assert state(hvd, "web1") == ("shutoff", "defined")

    assert hvd.hvctl("start", "web1").returncode == 0
    assert state(hvd, "web1") == ("running", "booted")
    assert hvd.hvctl("pause", "web1").returncode == 0
    assert state(hvd, "web1") == ("paused", "user")
    assert hvd.hvctl("resume", "web1").returncode == 0
    assert state(hvd, "web1") == ("running", "unpaused")
    assert hvd.hvctl("reboot", "web1").returncode == 0
    assert state(hvd, "web1") == ("running", "rebooted")
    p = hvd.hvctl("stop", "web1")
    assert p.returncode == 0, p.stderr
    assert "shut down" in p.stdout
    assert state(hvd, "web1") == ("shutoff", "shutdown")

    assert hvd.hvctl("start", "web1").returncode == 0
    assert hvd.hvctl("destroy", "web1").returncode == 0
    assert state(hvd, "web1") == ("shutoff", "destroyed")

    assert hvd.hvctl("start", "web1").returncode == 0
    assert hvd.hvctl("stop", "--force", "web1").returncode == 0
    assert state(hvd, "web1") == ("shutoff", "destroyed")

    assert hvd.hvctl("start", "web1").returncode == 0
    assert hvd.hvctl("pause", "web1").returncode == 0
    assert hvd.hvctl("destroy", "web1").returncode == 0
    assert state(hvd, "web1") == ("shutoff", "destroyed")

    assert hvd.hvctl("delete", "web1").returncode == 0
    assert hvd.hvctl("info", "web1").returncode == 3


ILLEGAL = [
    # (prepare actions, verb, message fragment)
    ([], "pause", "is shutoff; only a running domain can be paused"),
    ([], "resume", "is shutoff; only a paused domain can be resumed"),
    ([], "reboot", "is shutoff; only a running domain can be rebooted"),
    ([], "stop", "is shutoff; only a running domain can be shut down"),
    ([], "destroy", "is already shut off"),
    (["start"], "start", "is running; only a shutoff domain can be started"),
    (["start"], "resume", "is running; only a paused domain can be resumed"),
    (["start"], "delete", "is running; only a shut-off domain can be deleted"),
    (["start", "pause"], "pause", "is paused; only a running domain can be paused"),
    (["start", "pause"], "stop", "is paused; only a running domain can be shut down"),
    (["start", "pause"], "reboot", "is paused; only a running domain can be rebooted"),
    (["start", "pause"], "start", "is paused; only a shutoff domain can be started"),
    (["start", "pause"], "delete", "is paused; only a shut-off domain can be deleted"),
]


@pytest.mark.parametrize("prepare,verb,message", ILLEGAL)
def test_illegal_transitions_are_refused_and_change_nothing(hvd, prepare, verb, message):
    create(hvd, "d")
    for action in prepare:
        assert hvd.hvctl(action, "d").returncode == 0
    before = state(hvd, "d")
    events_before = hvd.db_query("SELECT COUNT(*) FROM events")[0][0]
    p = hvd.hvctl(verb, "d")
    assert p.returncode == 1
    assert message in p.stderr
    assert state(hvd, "d") == before
    assert hvd.db_query("SELECT COUNT(*) FROM events")[0][0] == events_before


def test_dbus_lifecycle_and_invalid_state_error(hvd):
    conn = hvd.bus.connect()
    m = hvd.manager(conn)
    path = m.CreateDomain({"name": "api1", "vcpus": dbus.UInt32(2),
                           "memory_mib": dbus.UInt64(128)})
    assert path == "/org/hvd1/domain/api1"
    d = hvd.domain("api1", conn)
    d.Start()
    props = hvd.domain_props("api1", conn)
    assert props["State"] == "running" and props["StateReason"] == "booted"
    assert props["VCPUs"] == 2 and props["MemoryMiB"] == 128
    with pytest.raises(dbus.DBusException) as err:
        d.Start()
    assert err.value.get_dbus_name() == "org.hvd1.Error.InvalidState"
    assert "only a shutoff domain can be started" in err.value.get_dbus_message()
    d.Shutdown(dbus.UInt32(5))
    assert hvd.domain_props("api1", conn)["State"] == "shutoff"
    m.DeleteDomain("api1")
    with pytest.raises(dbus.DBusException) as err:
        m.GetDomain("api1")
    assert err.value.get_dbus_name() == "org.hvd1.Error.NoSuchDomain"


def test_list_domains_returns_everything_in_one_call(hvd):
    for i in range(5):
        create(hvd, f"n{i}")
    hvd.hvctl("start", "n3", check=True)
    rows = hvd.manager().ListDomains()
    assert [str(r[0]) for r in rows] == ["n0", "n1", "n2", "n3", "n4"]
    n3 = [r for r in rows if r[0] == "n3"][0]
    assert tuple(n3[1:7]) == ("kvm", "pv", "running", "booted", 1, 64)
    assert n3[7] == "/org/hvd1/domain/n3"
    # hvctl list shows running ones; --all shows every one.
    assert [d["name"] for d in hvd.hvctl_json("list")] == ["n3"]
    assert len(hvd.hvctl_json("list", "--all")) == 5


def test_every_transition_is_logged_as_an_event(hvd):
    create(hvd, "ev")
    for verb in ["start", "pause", "resume", "destroy"]:
        hvd.hvctl(verb, "ev", check=True)
    rows = hvd.db_query("SELECT event, detail FROM events WHERE domain = 'ev' ORDER BY id")
    kinds = [r[0] for r in rows]
    assert kinds[0] == "created"
    import json
    states = [json.loads(r[1])["state"] for r in rows if r[0] == "state-changed"]
    assert states == ["starting", "running", "paused", "running", "shutoff"]


def test_domain_object_names_are_escaped(hvd):
    create(hvd, "a.b-c_d")
    path = hvd.manager().GetDomain("a.b-c_d")
    assert path.startswith("/org/hvd1/domain/")
    assert "." not in path and "-" not in path
    assert hvd.domain_props("a.b-c_d")["Name"] == "a.b-c_d"
