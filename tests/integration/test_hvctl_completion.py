"""hvctl --version, and the bash completion meson installs: verbs, options, option values and
the domain names of a running hvd, called as bash calls it (COMP_WORDS, COMP_CWORD)."""
import json
import re
import subprocess

from hvd_harness import SOURCE_ROOT

COMPLETION = SOURCE_ROOT / "hvctl" / "hvctl-completion.bash"

CALL = ('source "$1"; shift; COMP_CWORD=$1; shift; COMP_WORDS=("$@"); _hvctl; '
        'printf "%s\\n" "${COMPREPLY[@]}"')


def complete(build, *words, env=None):
    """What the completion offers for words, the last being the word under the cursor."""
    words = [str(build / "hvctl" / "hvctl"), *words]
    p = subprocess.run(["bash", "-c", CALL, "complete", str(COMPLETION), str(len(words) - 1),
                        *words], capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    return sorted(w for w in p.stdout.splitlines() if w)


def test_version(build):
    info = json.loads(subprocess.run(["meson", "introspect", "--projectinfo", str(build)],
                                     capture_output=True, text=True, check=True).stdout)
    for program in (build / "hvctl" / "hvctl", build / "hvd" / "hvd"):
        p = subprocess.run([str(program), "--version"], capture_output=True, text=True)
        assert p.returncode == 0
        assert p.stdout == f"{program.name} {info['version']}\n"


def test_verbs_and_options(build):
    help_text = subprocess.run([str(build / "hvctl" / "hvctl"), "--help"], capture_output=True,
                               text=True).stdout
    verbs = re.findall(r"^  ([a-z]+) {2,}", help_text.split("Global options:")[0], re.M)
    assert complete(build, "") == sorted(verbs)
    assert complete(build, "st") == ["start", "stats", "stop"]
    assert complete(build, "--v") == ["--version"]
    assert "--bus-address" in complete(build, "--")
    assert complete(build, "create", "x", "--mo") == ["--mode"]
    assert complete(build, "stop", "x", "--") == ["--force", "--help", "--no-wait", "--timeout"]
    assert complete(build, "create", "x", "--driver", "") == ["kvm", "minihv"]
    assert complete(build, "set", "x", "--on-crash", "re") == ["restart"]
    assert complete(build, "--json", "list", "--") == ["--all", "--help", "--json"]


def test_domain_names_from_hvd(build, hvd):
    for name in ("alpha", "beta", "other"):
        hvd.hvctl("create", name, check=True)
    address = hvd.bus.address
    assert complete(build, "--bus-address", address, "start", "") == ["alpha", "beta", "other"]
    assert complete(build, "--bus-address", address, "info", "a") == ["alpha"]
    assert complete(build, "--bus-address", address, "set", "--vcpus", "2", "b") == ["beta"]
    # one name per verb; names for verbs that take them only
    assert complete(build, "--bus-address", address, "start", "alpha", "") == []
    assert complete(build, "--bus-address", address, "create", "") == []
    # the bus hvctl would use without options: $DBUS_SYSTEM_BUS_ADDRESS
    assert complete(build, "delete", "o", env=hvd.env()) == ["other"]


def test_meson_install_ships_it(build, tmp_path):
    p = subprocess.run(["meson", "install", "-C", str(build), "--no-rebuild", "--quiet",
                        "--destdir", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    shipped = {str(f.relative_to(tmp_path)) for f in tmp_path.rglob("*") if f.is_file()}
    for suffix, source in [("share/bash-completion/completions/hvctl", COMPLETION),
                           ("share/polkit-1/actions/org.hvd1.policy",
                            SOURCE_ROOT / "polkit" / "org.hvd1.policy"),
                           ("share/polkit-1/rules.d/50-hvd.rules",
                            SOURCE_ROOT / "polkit" / "hvd.rules")]:
        found = [f for f in shipped if f.endswith(suffix)]
        assert found, (suffix, sorted(shipped))
        assert (tmp_path / found[0]).read_text() == source.read_text()
