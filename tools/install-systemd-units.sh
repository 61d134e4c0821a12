#!/bin/bash
# Install vmha's systemd units, its system user and /etc/vmha, idempotently.
#
#   tools/install-systemd-units.sh [--root DIR] [--bindir DIR]
#
#   --root DIR    install into an alternate filesystem root (a package build,
#                 an image, a test); default /
#   --bindir DIR  where vmha-monitor and vmha-agent are, as seen from inside
#                 the root; default: the directory of vmha-monitor on PATH,
#                 else /usr/local/bin (pip's on Debian)
#
# Puts etc/systemd/vmha-{monitor,agent}.service into /etc/systemd/system
# (ExecStart pointing at --bindir), the vmha user (etc/systemd/vmha.sysusers,
# through systemd-sysusers) and /etc/vmha/vmha.conf (from the sample, only if
# absent; readable by root and the vmha group only). Then, on a running
# systemd, reloads it. Enabling and starting is left to the operator:
#   systemctl enable --now vmha-monitor     # on the monitor machines
#   systemctl enable --now vmha-agent       # on every compute host
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[install-systemd-units] $*"; }

ROOT=/
BINDIR=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT=$2; shift 2 ;;
    --bindir) BINDIR=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
ROOT=${ROOT%/}
if [ -z "$BINDIR" ]; then
  if command -v vmha-monitor >/dev/null && [ -z "$ROOT" ]; then
    BINDIR=$(dirname "$(command -v vmha-monitor)")
  else
    BINDIR=/usr/local/bin
  fi
fi

install_units() {
  local unit
  install -d -m 0755 "$ROOT/etc/systemd/system"
  for unit in vmha-monitor vmha-agent; do
    sed -e "s|^ExecStart=/usr/local/bin/|ExecStart=$BINDIR/|" \
      "etc/systemd/$unit.service" > "$ROOT/etc/systemd/system/$unit.service.new"
    chmod 0644 "$ROOT/etc/systemd/system/$unit.service.new"
    mv "$ROOT/etc/systemd/system/$unit.service.new" "$ROOT/etc/systemd/system/$unit.service"
    [ -x "$ROOT$BINDIR/$unit" ] || log "warning: $BINDIR/$unit is not installed (yet)"
  done
  log "units: /etc/systemd/system/vmha-monitor.service, vmha-agent.service (ExecStart in $BINDIR)"
}

create_user() {
  install -D -m 0644 etc/systemd/vmha.sysusers "$ROOT/usr/lib/sysusers.d/vmha.conf"
  if command -v systemd-sysusers >/dev/null; then
    systemd-sysusers --root="${ROOT:-/}" "$ROOT/usr/lib/sysusers.d/vmha.conf"
  elif ! getent passwd vmha >/dev/null && [ -z "$ROOT" ]; then
    useradd --system --home-dir /var/lib/vmha --shell /usr/sbin/nologin vmha
  fi
  log "user: vmha ($(grep '^vmha:' "$ROOT/etc/passwd" | cut -d: -f3,4))"
}

install_config() {
  local gid
  gid=$(awk -F: '$1 == "vmha" {print $3}' "$ROOT/etc/group")
  install -d -m 0750 -o 0 -g "$gid" "$ROOT/etc/vmha"
  if [ ! -e "$ROOT/etc/vmha/vmha.conf" ]; then
    install -m 0640 -o 0 -g "$gid" etc/vmha/vmha.conf.sample "$ROOT/etc/vmha/vmha.conf"
    log "config: /etc/vmha/vmha.conf (the sample; edit it)"
  else
    log "config: /etc/vmha/vmha.conf kept"
  fi
}

reload_systemd() {
  if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    log "systemd reloaded; enable with: systemctl enable --now vmha-monitor (or vmha-agent)"
  fi
}

install_units
create_user
install_config
reload_systemd
