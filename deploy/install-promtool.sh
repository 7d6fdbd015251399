#!/usr/bin/env bash
# Install promtool, the Prometheus rule checker and rule unit-test runner.
#
# Usage: deploy/install-promtool.sh
#
# Does nothing when `promtool` is already on PATH. Otherwise it fetches
# Debian's `prometheus` package with apt-get and extracts only the promtool
# binary into INSTALL_DIR (default /usr/local/bin). Installing the whole
# package would also pull in the web console assets, create a system user and
# try to start a Prometheus server on port 9090, none of which rule tests
# need. Debian ships promtool in no smaller package.
#
# Needs apt-get and write access to INSTALL_DIR (run as root, or set
# INSTALL_DIR to a directory on your PATH that you own).
set -euo pipefail

INSTALL_DIR="${INSTALL_DIR:-/usr/local/bin}"

if command -v promtool >/dev/null 2>&1; then
    echo "promtool already installed: $(command -v promtool)"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-promtool: apt-get not found; install promtool from" \
        "https://prometheus.io/download/ and put it on PATH" >&2
    exit 1
fi

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
cd "$workdir"

# `apt-get download` runs as the invoking user and writes to the current
# directory; refresh the package lists once if the cached ones are stale.
if ! apt-get download -q prometheus >/dev/null 2>&1; then
    apt-get update -q >/dev/null
    apt-get download -q prometheus >/dev/null
fi

deb="$(ls prometheus_*.deb)"
dpkg-deb --fsys-tarfile "$deb" | tar -x ./usr/bin/promtool
mkdir -p "$INSTALL_DIR"
install -m 0755 usr/bin/promtool "$INSTALL_DIR/promtool"

if ! command -v promtool >/dev/null 2>&1; then
    echo "install-promtool: installed $INSTALL_DIR/promtool, but $INSTALL_DIR" \
        "is not on PATH" >&2
    exit 1
fi
echo "installed $(promtool --version 2>&1 | head -n 1) at $INSTALL_DIR/promtool"
