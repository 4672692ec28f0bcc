"""hvctl --url drives every verb over the HTTP API with the same output as over D-Bus."""
import json
import subprocess


def both(hvd, *args):
    """Runs hvctl over D-Bus and over HTTP; returns the two CompletedProcess objects."""
    over_bus = hvd.hvctl(*args)
    over_http = hvd.hvctl("--url", hvd.url, "--token-file", str(hvd.state_dir / "http-token"),
                          *args)
    return over_bus, over_http


def test_every_verb_over_http(hvd):
    url = ["--url", hvd.url, "--token-file", str(hvd.state_dir / "http-token")]
    steps = [
        (["create", "h1", "--vcpus", "2", "--memory", "96", "--cmdline", "a b"], "Domain h1 created."),
        (["set", "h1", "--autostart"], "Domain h1 updated."),
        (["start", "h1"], "Domain h1 started."),
        (["pause", "h1"], "Domain h1 paused."),
        (["resume", "h1"], "Domain h1 resumed."),
        (["reboot", "h1"], "Domain h1 rebooted."),
        (["stop", "h1", "--timeout", "5"], "Domain h1 shut down."),
        (["start", "h1"], "Domain h1 started."),
        (["destroy", "h1"], "Domain h1 destroyed."),
        (["delete", "h1"], "Domain h1 deleted."),
    ]
    for args, out in steps:
        p = hvd.hvctl(*url, *args)
        assert p.returncode == 0, (args, p.stderr)
        assert p.stdout.strip() == out


def test_read_verbs_print_the_same(hvd):
    hvd.hvctl("create", "a", "--mode", "full", "--cpuset", "0", check=True)
    hvd.hvctl("create", "b", "--vcpus", "3", check=True)
    hvd.hvctl("start", "b", check=True)
    for args in (["list"], ["list", "--all"], ["list", "--all", "--json"], ["info", "a", "--json"],
                 ["info", "a"], ["host", "--json"]):
        over_bus, over_http = both(hvd, *args)
        assert over_bus.returncode == over_http.returncode == 0, args
        if "--json" in args:
            bus_view = json.loads(over_bus.stdout)
            # How D-Bus callers are authorized (polkit or the admin group) is D-Bus's own;
            # over HTTP the token decides.
            if args[0] == "host":
                assert "authorization" in bus_view
                bus_view.pop("authorization")
            http_view = json.loads(over_http.stdout)
            if args[0] == "host":
                # Density counts what is in use now (hvd's fds, the host's tasks): the same
                # limits either way, not the same counts from one call to the next.
                for view in (bus_view, http_view):
                    for limit in view["density"]["limits"]:
                        limit.pop("used")
                        limit.pop("room")
                    view["density"].pop("room")
            assert bus_view == http_view, args
        else:
            assert over_bus.stdout == over_http.stdout, args


def test_errors_and_exit_codes_match(hvd):
    hvd.hvctl("create", "x", check=True)
    for args, code in [(["info", "ghost"], 3), (["start", "ghost"], 3), (["pause", "x"], 1),
                       (["create", "x"], 1), (["create", "y", "--vcpus", "0"], 1)]:
        over_bus, over_http = both(hvd, *args)
        assert over_bus.returncode == over_http.returncode == code, (args, over_http.stderr)
        assert over_bus.stderr.strip() in over_http.stderr, args


def test_http_mutations_without_token_are_refused(hvd):
    p = hvd.hvctl("--url", hvd.url, "create", "z", env={"HVD_TOKEN_FILE": "/nonexistent"})
    assert p.returncode == 1
    assert "HTTP 401" in p.stderr and "use --token-file" in p.stderr
    # Reads work without a token on loopback.
    assert hvd.hvctl("--url", hvd.url, "list", env={"HVD_TOKEN_FILE": "/nonexistent"}).returncode == 0


def test_unreachable_url_exits_4(hvd):
    p = hvd.hvctl("--url", "http://127.0.0.1:1", "list")
    assert p.returncode == 4 and "cannot reach hvd" in p.stderr
    p = hvd.hvctl("--url", "ftp://x", "list")
    assert p.returncode == 2 and "--url must start with http://" in p.stderr


def test_events_over_http(hvd):
    url = ["--url", hvd.url]
    proc = subprocess.Popen([str(hvd.hvctl_binary), *url, "events", "--json", "--count", "2"],
                            env=hvd.env(), stdout=subprocess.PIPE, text=True)
    import time
    time.sleep(0.5)
    hvd.hvctl("create", "e", check=True)
    hvd.hvctl("delete", "e", check=True)
    out, _ = proc.communicate(timeout=10)
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["event"], e["domain"]) for e in events] == [("created", "e"), ("deleted", "e")]


def test_events_since_prints_the_log_the_same_both_ways(hvd):
    hvd.hvctl("create", "hist", check=True)
    hvd.hvctl("start", "hist", check=True)
    hvd.hvctl("create", "other", check=True)
    over_bus, over_http = both(hvd, "events", "--since", "0", "--domain", "hist", "--json")
    assert over_bus.returncode == 0 and over_http.returncode == 0, (over_bus.stderr, over_http.stderr)
    events = [json.loads(line) for line in over_bus.stdout.splitlines()]
    assert events == [json.loads(line) for line in over_http.stdout.splitlines()]
    assert [(e["event"], e.get("state")) for e in events] == \
        [("created", None), ("state-changed", "starting"), ("state-changed", "running")]
    assert all(e["domain"] == "hist" for e in events)
    assert events[0]["caller"].endswith("over D-Bus")
    over_bus, over_http = both(hvd, "events", "--since", str(events[0]["id"]), "--kind", "created")
    assert over_bus.stdout == over_http.stdout
    lines = over_bus.stdout.splitlines()
    assert len(lines) == 1 and "other" in lines[0] and "created" in lines[0] and "(by uid " in lines[0]
    p = hvd.hvctl("events", "--since", "-1h", "--kind", "state-changed", "--domain", "hist")
    assert p.returncode == 0 and len(p.stdout.splitlines()) == 2
    assert "running/booted" in p.stdout.splitlines()[1], p.stdout
    p = hvd.hvctl("events", "--since", "soon")
    assert p.returncode == 1 and "'since' must be an event id" in p.stderr
    p = hvd.hvctl("events", "--domain", "hist")
    assert p.returncode == 2 and "give --since too" in p.stderr
