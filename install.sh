#!/usr/bin/env bash
# Vigie installer for Debian/Ubuntu machines with systemd.
#
#   ./install.sh agent --collector https://HOST:PORT --enroll CODE [--site SITE] [--host NAME]
#                      [--ca-file FILE]
#   ./install.sh collector [--listen ADDR:PORT] [--tls-cert F --tls-key F] [--influxdb URL]
#                      [--admin NAME [--admin-password-file F]] [--public-url URL]
#                      [--state-url postgresql://USER@HOST/DB [--state-password-file F]]
#                      [--victoriametrics URL[,URL...]]     (several collectors: docs/SCALING.md)
#   ./install.sh upgrade            keeps config and data, migrates the store, restarts
#   ./install.sh uninstall [--purge]   removes the units (and with --purge, config and data)
#
# Common options: --root DIR installs under DIR instead of / (tests, images); --no-start writes
# everything but does not touch systemd. Running it twice changes nothing the second time.
# Every step checks its result; a failure stops with the step's name and how to retry.
set -euo pipefail

SRC=$(cd "$(dirname "$0")" && pwd)
ROOT=/
START=1
PURGE=0
COMMAND=${1:-}
if [[ $# -gt 0 ]]; then shift; fi

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }

# step NAME COMMAND...: run one step; on failure, name it and say how to retry.
step() {
  local name=$1
  shift
  say "$name"
  if ! "$@"; then
    printf 'install.sh: step "%s" failed.\nFix the cause above, then run again: %s\n' \
      "$name" "$RETRY" >&2
    exit 1
  fi
}

ARGS=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --root) ROOT=$2; shift 2 ;;
    --no-start) START=0; shift ;;
    --purge) PURGE=1; shift ;;
    --collector|--enroll|--site|--host|--ca-file|--listen|--tls-cert|--tls-key|--influxdb|--admin|--admin-password-file|--public-url|--state-url|--state-password-file|--victoriametrics)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      ARGS+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see ./install.sh --help)" ;;
  esac
done
opt() {  # opt NAME DEFAULT: the value given for --NAME
  local i
  for ((i = 0; i < ${#ARGS[@]}; i += 2)); do
    [[ ${ARGS[i]} == "--$1" ]] && { printf '%s' "${ARGS[i + 1]}"; return; }
  done
  printf '%s' "${2:-}"
}
RETRY="$0 $COMMAND ${ARGS[*]:-}"
if [[ $ROOT != / ]]; then RETRY+=" --root $ROOT"; fi

R=${ROOT%/}
OPT=$R/opt/vigie
ETC=$R/etc/vigie
STATE=$R/var/lib/vigie
UNITS=$R/etc/systemd/system
# Paths as the running system sees them (the units and configs name these).
SYS_OPT=/opt/vigie
[[ $ROOT != / ]] && SYS_OPT=$OPT

if [[ $(id -u) -ne 0 && $ROOT == / ]]; then
  die "run as root (sudo ./install.sh $COMMAND …): the agent reads SMART and DMI serials, and both install systemd units"
fi

systemd_live() { [[ $START -eq 1 && $ROOT == / && -d /run/systemd/system ]]; }

install_venv() {  # install_venv EXTRA
  if [[ ! -x $OPT/venv/bin/python ]]; then
    if ! python3 -m venv "$OPT/venv"; then
      rm -rf "$OPT/venv"
      # Debian ships venv separately
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && python3 -m venv "$OPT/venv" || return 1
    fi
  fi
  "$OPT/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip &&
    "$OPT/venv/bin/python" -m pip install -q --disable-pip-version-check "$SRC[$1]"
}

write_if_changed() {  # write_if_changed FILE MODE: stdin to FILE, only when it differs
  local file=$1 mode=$2 tmp
  tmp=$(mktemp)
  cat >"$tmp"
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    echo "   unchanged: $file"
    return 0
  fi
  mkdir -p "$(dirname "$file")"
  install -m "$mode" "$tmp" "$file"
  rm -f "$tmp"
  echo "   wrote: $file"
}

hardening() {  # what both units lock down
  cat <<EOF
StateDirectory=vigie
StateDirectoryMode=0700
UMask=0077
NoNewPrivileges=yes
PrivateTmp=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
EOF
}

agent_unit() {
  cat <<EOF
# Vigie agent: health, SMART, inventory, and the site's devices when configured.
[Unit]
Description=Vigie monitoring agent
Documentation=file://$SYS_OPT/README.md
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$SYS_OPT/venv/bin/vigie-agent run --config /etc/vigie/agent.toml
Restart=on-failure
RestartSec=10
# Root: smartctl, dmidecode and every mount point need it; the rest is locked down.
ProtectSystem=full
ProtectHome=read-only
$(hardening)
CapabilityBoundingSet=CAP_SYS_RAWIO CAP_SYS_ADMIN CAP_NET_RAW CAP_DAC_READ_SEARCH
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK

[Install]
WantedBy=multi-user.target
EOF
}

collector_unit() {
  cat <<EOF
# Vigie collector: ingest, store, alerts, web UI.
[Unit]
Description=Vigie collector
Documentation=file://$SYS_OPT/README.md
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=$SYS_OPT/venv/bin/vigie-collector run --config /etc/vigie/collector.toml
$([[ -f $ETC/pgpass ]] && printf 'LoadCredential=pgpass:/etc/vigie/pgpass\nEnvironment=PGPASSFILE=%%d/pgpass\n')
Restart=on-failure
RestartSec=5
DynamicUser=yes
ProtectSystem=strict
ProtectHome=yes
PrivateDevices=yes
ProtectKernelLogs=yes
ProtectProc=invisible
ProcSubset=pid
RemoveIPC=yes
$(hardening)
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources

[Install]
WantedBy=multi-user.target
EOF
}

start_unit() {  # start_unit NAME
  if systemd_live; then
    systemctl daemon-reload && systemctl enable --now "$1" && systemctl is-active --quiet "$1"
  else
    echo "   systemd not in use here (--root or --no-start): start with"
    echo "   $SYS_OPT/venv/bin/${1%.service} run --config /etc/vigie/${1#vigie-}"
    echo "   (config: ${ETC}/${1#vigie-}; replace .service by .toml)"
  fi
}

agent_config() {
  local collector site host ca
  collector=$(opt collector) site=$(opt site default) host=$(opt host "$(hostname)") ca=$(opt ca-file)
  cat <<EOF
# Written by install.sh; edit freely, upgrades keep it. Reference: $SYS_OPT/README.md
[agent]
site = "$site"
host = "$host"

[collector]
url = "$collector"
token_file = "$R/etc/vigie/agent.token"
$([[ -n $ca ]] && echo "ca_file = \"$ca\"")

[spool]
path = "$STATE/agent-spool.db"
EOF
}

collector_config() {
  local listen cert key influx public state nodes
  listen=$(opt listen 0.0.0.0:8443) cert=$(opt tls-cert) key=$(opt tls-key)
  influx=$(opt influxdb) public=$(opt public-url) state=$(opt state-url) nodes=$(opt victoriametrics)
  cat <<EOF
# Written by install.sh; edit freely, upgrades keep it. Reference: $SYS_OPT/README.md
[server]
listen = "$listen"
$([[ -n $cert ]] && printf 'tls_cert = "%s"\ntls_key = "%s"\n' "$cert" "$key")
[storage]
path = "$STATE/collector.db"
$([[ -n $influx ]] && printf '\n[influxdb]\nurl = "%s"\n' "$influx")
$([[ -n $state ]] && printf '\n# Shared with the other collectors; the password is in /etc/vigie/pgpass.\n[state]\nurl = "%s"\n' "$state")
$([[ -n $nodes ]] && printf '\n[series]\nbackend = "victoriametrics"\nurls = ["%s"]\n' "${nodes//,/\", \"}")
[alerts]
recipients = []
$([[ -n $public ]] && printf 'public_url = "%s"\n' "$public")
EOF
}

keep_or_write() {  # keep_or_write FILE MODE GENERATOR: an existing config is never replaced
  if [[ -f $1 ]]; then
    echo "   kept: $1"
  else
    "$3" | write_if_changed "$1" "$2"
  fi
}

do_agent() {
  [[ -n $(opt collector) ]] || die "agent: --collector https://HOST:PORT is required"
  [[ -f $ETC/agent.token || -n $(opt enroll) ]] || die "agent: --enroll CODE is required (vigie-collector enroll create --site SITE)"
  step "install the agent into $OPT/venv" install_venv agent
  step "write $ETC/agent.toml" keep_or_write "$ETC/agent.toml" 0644 agent_config
  if [[ -f $ETC/agent.token ]]; then
    say "already enrolled ($ETC/agent.token exists)"
  else
    step "enroll with $(opt collector)" "$OPT/venv/bin/vigie-agent" enroll \
      --config "$ETC/agent.toml" --code "$(opt enroll)"
  fi
  step "write the systemd unit" write_if_changed "$UNITS/vigie-agent.service" 0644 < <(agent_unit)
  step "start vigie-agent" start_unit vigie-agent.service
  say "done: agent installed in $OPT, config $ETC/agent.toml, spool in $STATE"
}

create_admin() {
  local name=$1 file
  file=$(opt admin-password-file)
  if "$OPT/venv/bin/vigie-collector" user list --config "$ETC/collector.toml" | cut -f1 | grep -qx "$name"; then
    echo "   user $name exists"
  elif [[ -n $file ]]; then
    "$OPT/venv/bin/vigie-collector" user add "$name" --role technician --config "$ETC/collector.toml" <"$file"
  else
    "$OPT/venv/bin/vigie-collector" user add "$name" --role technician --config "$ETC/collector.toml"
  fi
}

write_pgpass() {  # libpq's password file: any host, port, database and user; : and \ escaped
  local password
  password=$(head -n1 "$(opt state-password-file)")
  password=${password//\\/\\\\}
  printf '*:*:*:*:%s\n' "${password//:/\\:}" | write_if_changed "$ETC/pgpass" 0600
}

do_collector() {
  if [[ -n $(opt tls-cert) && -z $(opt tls-key) ]] || [[ -z $(opt tls-cert) && -n $(opt tls-key) ]]; then
    die "collector: --tls-cert and --tls-key go together"
  fi
  if [[ -n $(opt state-url) && ! $(opt state-url) =~ ^postgres(ql)?:// ]]; then
    die "collector: --state-url must be a postgresql:// URL (the password goes in --state-password-file)"
  fi
  if [[ -n $(opt state-password-file) ]]; then
    [[ -n $(opt state-url) ]] || die "collector: --state-password-file goes with --state-url"
    [[ -r $(opt state-password-file) ]] || die "collector: cannot read $(opt state-password-file)"
    step "write $ETC/pgpass (readable by root, given to the service as a credential)" write_pgpass
  fi
  if [[ -f $ETC/pgpass ]]; then export PGPASSFILE=$ETC/pgpass; fi
  step "install the collector into $OPT/venv" install_venv collector,postgres
  step "write $ETC/collector.toml" keep_or_write "$ETC/collector.toml" 0644 collector_config
  mkdir -p "$STATE" && chmod 0700 "$STATE"
  step "prepare the store" "$OPT/venv/bin/vigie-collector" user list --config "$ETC/collector.toml"
  if [[ -n $(opt admin) ]]; then step "create technician $(opt admin)" create_admin "$(opt admin)"; fi
  step "write the systemd unit" write_if_changed "$UNITS/vigie-collector.service" 0644 < <(collector_unit)
  step "start vigie-collector" start_unit vigie-collector.service
  say "done: collector installed in $OPT, config $ETC/collector.toml, store in $STATE"
  say "next: vigie-collector enroll create --site SITE --config $ETC/collector.toml"
}

do_upgrade() {
  local kind found=0
  for kind in collector agent; do
    [[ -f $UNITS/vigie-$kind.service ]] || continue
    found=1
    if [[ $kind == collector ]]; then
      step "upgrade the collector in $OPT/venv" install_venv collector,postgres
      if [[ -f $ETC/pgpass ]]; then export PGPASSFILE=$ETC/pgpass; fi
      # opening the store runs its migrations; a damaged store stops the upgrade here
      step "migrate the store" "$OPT/venv/bin/vigie-collector" user list --config "$ETC/collector.toml"
      step "refresh the unit" write_if_changed "$UNITS/vigie-collector.service" 0644 < <(collector_unit)
    else
      step "upgrade the agent in $OPT/venv" install_venv agent
      step "refresh the unit" write_if_changed "$UNITS/vigie-agent.service" 0644 < <(agent_unit)
    fi
    if systemd_live; then step "restart vigie-$kind" systemctl restart "vigie-$kind.service"; fi
  done
  [[ $found -eq 1 ]] || die "upgrade: nothing installed under $R/ (no vigie unit found)"
  say "done: upgraded; config and data kept"
}

do_uninstall() {
  local kind
  for kind in agent collector; do
    if [[ -f $UNITS/vigie-$kind.service ]]; then
      if systemd_live; then systemctl disable --now "vigie-$kind.service" || true; fi
      step "remove the $kind unit" rm -f "$UNITS/vigie-$kind.service"
    fi
  done
  if systemd_live; then systemctl daemon-reload; fi
  step "remove $OPT" rm -rf "$OPT"
  if [[ $PURGE -eq 1 ]]; then
    step "remove config and data" rm -rf "$ETC" "$STATE"
    say "done: Vigie removed with its config and data"
  else
    say "done: Vigie removed; config ($ETC) and data ($STATE) kept (--purge removes them)"
  fi
}

case $COMMAND in
  agent) do_agent ;;
  collector) do_collector ;;
  upgrade) do_upgrade ;;
  uninstall) do_uninstall ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
