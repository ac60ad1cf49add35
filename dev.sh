#!/usr/bin/env bash
# Development entry point.
#   ./dev.sh demo   collector + local agent on http://127.0.0.1:8080 (Ctrl-C stops)
#   ./dev.sh test   every check: system services, virtualenv, ruff, mypy, pytest
#   ./dev.sh pytest ARGS   the fast inner loop: pytest on the existing .venv, no apt, ruff or
#                          mypy (`./dev.sh pytest -m "not services"`: the tests without peers)
#   ./dev.sh windows-package   the agent's Windows zip (embeddable CPython + setup.cmd) in dist/
# Works on a fresh Debian 12 with only Python 3.11 and git; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")"

# Real peers the tests start on loopback (tests/services.py).
TEST_PACKAGES=(influxdb victoria-metrics haproxy postgresql-15 snmpd snmp openssh-server openssh-client chromium smartmontools debootstrap iproute2 wine wine64 binutils-mingw-w64-x86-64 fusioninventory-agent)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    say "not root: cannot install $*; tests needing them will skip (CI=true makes them fail)"
    return 0
  fi
  say "apt-get install $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

system_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
}

venv() {
  if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv"
    if ! python3 -m venv .venv 2>/dev/null; then
      rm -rf .venv
      apt_install python3-venv
      python3 -m venv .venv
    fi
  fi
  say "installing vigie[$1] into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$1]"
}

case "${1:-}" in
  demo)
    shift
    venv agent,collector
    exec .venv/bin/vigie-collector demo "$@"
    ;;
  test)
    shift
    system_packages "${TEST_PACKAGES[@]}"
    venv dev
    say "ruff"
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    say "mypy"
    .venv/bin/mypy
    say "pytest"
    exec .venv/bin/pytest "$@"
    ;;
  pytest)
    shift
    [[ -x .venv/bin/pytest ]] || venv dev
    exec .venv/bin/pytest "$@"
    ;;
  windows-package)
    shift
    venv agent
    exec .venv/bin/python -m windows.package "$@"
    ;;
  *)
    echo "usage: ./dev.sh demo [--listen HOST:PORT] | ./dev.sh test [pytest args]" \
         "| ./dev.sh pytest [pytest args]" \
         "| ./dev.sh windows-package [--out DIR]" >&2
    exit 2
    ;;
esac
