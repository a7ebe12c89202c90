#!/usr/bin/env bash
# The README's test command: installs what the tests need (idempotent; Debian 12, root) and
# runs every test layer that exists. Usage: bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages, all with --no-install-recommends (drbd-utils would pull exim4 otherwise).
PACKAGES=(drbd-utils mariadb-server mariadb-client mariadb-backup iproute2 e2fsprogs iputils-arping iputils-ping
          busybox-static util-linux procps python3 systemd
          prometheus curl python3-pymysql sysbench)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "== installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi

# The package test (tests/package.rs) builds the .deb with cargo-deb, pinned; installing it
# takes ~5.5 min on two busy cores, once per machine. Without it that test FAILS.
CARGO_DEB_VERSION=3.6.0
if ! cargo deb --version >/dev/null 2>&1; then
    echo "== installing cargo-deb $CARGO_DEB_VERSION"
    cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
fi

# Layer 4 needs the VM lab (Debian's kernel with DRBD, qemu, virtme-ng, a MariaDB template):
# idempotent, ~1 s when already done. Without it the vmlab test FAILS; TANDEM_SKIP_VMLAB=1 skips
# the VM lab, loudly, for quick local runs only.
if [ "${TANDEM_SKIP_VMLAB:-0}" != 1 ]; then
    echo "== VM lab setup"
    bash tests/vmlab/setup.sh
fi

echo "== layers 1 and 3: unit tests, parsers on real DRBD captures, config, rendering via drbdadm,"
echo "   the host lab (namespaces, loop disks, real mounts, MariaDB and netlink), layer 2 (core"
echo "   transcripts and the seeded simulation) and layer 4, the VM lab (two qemu guests, real DRBD)"
cargo test --all-targets --locked
