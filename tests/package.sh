#!/usr/bin/env bash
# Builds the Debian package into target/debian/ (docs/install.md, "Building the package"):
# the release binaries, then the man pages and shell completions rendered from the CLI
# definitions (`tandem package-files`), then `cargo deb --no-build`. Prints the paths of the
# .deb and of its debug symbols' tandem-dbgsym .ddeb. Needs cargo-deb: `cargo install cargo-deb --locked --version 3.6.0`.
# Usage: bash tests/package.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"
fi
if ! cargo deb --version >/dev/null 2>&1; then
    echo "cargo-deb is missing: cargo install cargo-deb --locked --version 3.6.0" >&2
    exit 1
fi
cargo build --release --locked --bins
rm -rf target/package-files
target/release/tandem package-files --out target/package-files >/dev/null
cargo deb --no-build --locked --output target/debian/ 2>&1 | grep -E '\.d?deb$'
