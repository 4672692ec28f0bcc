#!/usr/bin/env bash
# Starts hvd from the build tree with embedded defaults for a try-out: state under ./run, the
# system bus when hvd's policy is installed there (else a private bus), qemu:///system when
# libvirtd runs (else libvirt's test driver). Ctrl-C stops hvd; domains keep running.
set -euo pipefail

build=${1:-build}
cd "$(dirname "$0")/.."
root=$PWD
run="$root/run"
mkdir -p "$run/state" "$run/runtime"
chmod 755 "$run"

bus_pid=
cleanup() {
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
}
trap cleanup EXIT

policy_installed() {
    for d in /etc/dbus-1/system.d /usr/share/dbus-1/system.d /usr/local/share/dbus-1/system.d; do
        [ -f "$d/org.hvd1.conf" ] && return 0
    done
    return 1
}

if [ -S /run/dbus/system_bus_socket ] && policy_installed &&
    busctl --system status >/dev/null 2>&1; then
    bus_address=unix:path=/run/dbus/system_bus_socket
    bus_note="the system bus"
else
    bus_socket="$run/bus.sock"
    rm -f "$bus_socket"
    sed -e "s|@SOCKET@|$bus_socket|" -e "s|@POLICY@|$root/systemd/org.hvd1.conf|" \
        scripts/private-bus.conf.in >"$run/bus.conf"
    dbus-daemon --config-file="$run/bus.conf" --nofork --nopidfile 2>/dev/null &
    bus_pid=$!
    for _ in $(seq 100); do [ -S "$bus_socket" ] && break; sleep 0.05; done
    bus_address=unix:path=$bus_socket
    bus_note="its own D-Bus bus ($bus_address): no system bus with hvd's policy here"
fi

if [ -S /run/libvirt/libvirt-sock ]; then
    kvm_uri=qemu:///system
    kvm_note="kvm driver on qemu:///system"
else
    kvm_uri=test:///default
    kvm_note="kvm driver on libvirt's test driver (test:///default): libvirtd is not running"
fi

[ -f "$run/hvd.conf" ] || cat >"$run/hvd.conf" <<CONF
# hvd configuration for this try-out; see hvd(8). Reload with: kill -HUP \$(cat run/runtime/hvd.pid)
[allocation]
cpu-overcommit = 4.0
memory-overcommit = 1.0

# The minihv program, the guests and the dashboard come from the build tree by default.
[http]
listen = 127.0.0.1:8780
CONF

cat >"$run/env" <<ENV
export DBUS_SYSTEM_BUS_ADDRESS=$bus_address
export PATH=$root/$build/hvctl:\$PATH
export HVD_TOKEN_FILE=$run/state/http-token
ENV

cat <<MSG
Starting hvd with
  state in     $run/state
  runtime in   $run/runtime
  D-Bus        $bus_note
  drivers      $kvm_note

In another terminal, point hvctl at it:
  . $run/env
  hvctl host
  hvctl list
  hvctl console demo            # a minihv guest that echoes what you type; Ctrl-] detaches
  hvctl create web1 --vcpus 1 --memory 64
  hvctl start web1

The HTTP API and the dashboard listen on http://127.0.0.1:8780 (the bearer token for changes
is in $run/state/http-token; hvctl --url http://127.0.0.1:8780 uses it through the env file).

Press Ctrl-C to stop hvd (domains keep running).

MSG

# Once hvd answers, make sure the demo domain exists and runs (a minihv guest in pv mode that
# echoes its console input), then print the dashboard's address with the API token in its
# fragment (the page keeps it for the tab and takes it out of the address bar).
rm -f "$run/runtime/http-url"
(
    export DBUS_SYSTEM_BUS_ADDRESS=$bus_address
    hvctl=$root/$build/hvctl/hvctl
    for _ in $(seq 200); do "$hvctl" host >/dev/null 2>&1 && break; sleep 0.05; done
    "$hvctl" info demo >/dev/null 2>&1 ||
        "$hvctl" create demo --driver minihv --mode pv --kernel echo --memory 16 >/dev/null
    state=$("$hvctl" info demo --json 2>/dev/null | sed -n 's/.*"state": "\([a-z]*\)".*/\1/p')
    [ "$state" = shutoff ] && "$hvctl" start demo >/dev/null
    echo "Demo domain: $("$hvctl" list --all | grep '^demo ')"
    for _ in $(seq 200); do
        [ -s "$run/runtime/http-url" ] && [ -s "$run/state/http-token" ] && break
        sleep 0.05
    done
    [ -s "$run/runtime/http-url" ] || exit 0
    echo "Dashboard: $(head -n1 "$run/runtime/http-url")/#token=$(cat "$run/state/http-token")"
) &

DBUS_SYSTEM_BUS_ADDRESS=$bus_address "$root/$build/hvd/hvd" --config "$run/hvd.conf" \
    --state-dir "$run/state" --runtime-dir "$run/runtime" --kvm-uri "$kvm_uri" || true
