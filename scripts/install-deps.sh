#!/usr/bin/env bash
# Installs the Debian packages hvd needs for a purpose (build, run, check, bench) when missing,
# and the npm packages of the web dashboard (web/), of its browser tests (tests/web) and of the
# OpenAPI linter (docs/) from their lockfiles when node_modules is missing or older than the
# lockfile.
set -euo pipefail

purpose=${1:-build}

build_pkgs=(meson ninja-build pkg-config gcc libc6-dev libsystemd-dev libsqlite3-dev
    libjansson-dev libmicrohttpd-dev libvirt-dev libseccomp-dev libcurl4-openssl-dev libmnl-dev
    libnftables-dev libgnutls28-dev)
run_pkgs=(dbus systemd libvirt0 dnsmasq-base libnftables1)
# qemu-img makes the copy-on-write disks of kvm clones
run_pkgs+=(qemu-utils)
check_pkgs=(python3 python3-pytest python3-dbus python3-gi clang clang-format libclang-rt-14-dev llvm lld
    sqlite3 libvirt-daemon-system libvirt-clients qemu-system-x86 qemu-utils util-linux
    chromium iproute2 iputils-ping curl polkitd
    # the NAT tests read table ip hvd back with nft
    nftables
    # the cluster tests: a real etcd cluster on loopback
    etcd-server
    # the TLS tests make a throwaway CA and certificates
    openssl
    # the kvm tests' Linux guest: Debian's stock kernel and initrd, a busybox root disk
    linux-image-amd64 busybox-static e2fsprogs)
# Node.js may come from elsewhere (its npm bundled): only install Debian's when the commands are
# missing. npm fetches the dashboard's libraries at build time; nothing runs in node after.
node_cmds=("node:nodejs" "npm:npm")
bench_pkgs=(libvirt-dbus libvirt-clients qemu-system-x86 libvirt-daemon-system)

case "$purpose" in
build) want=("${build_pkgs[@]}") ;;
run) want=("${build_pkgs[@]}" "${run_pkgs[@]}") ;;
check) want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${check_pkgs[@]}") ;;
bench) want=("${build_pkgs[@]}" "${run_pkgs[@]}" "${check_pkgs[@]}" "${bench_pkgs[@]}") ;;
*)
    echo "usage: $0 build|run|check|bench" >&2
    exit 2
    ;;
esac

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
for c in "${node_cmds[@]}"; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing missing packages: ${missing[*]}"
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    # Debian's maintainer scripts try to start services; nothing should start during the install.
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages, exactly as locked.
case "$purpose" in
check | bench) npm_dirs=(web tests/web docs) ;;
*) npm_dirs=(web) ;;
esac
cd "$(dirname "$0")/.."
for d in "${npm_dirs[@]}"; do
    if [ ! -f "$d/node_modules/.package-lock.json" ] ||
        [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        echo "Installing the npm packages of $d (npm ci)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
