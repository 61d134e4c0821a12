#!/bin/bash
# vmha's main job, end to end, on one machine with no cloud:
#   1. the real-Nova lab comes up (tools/lab/lab up: keystone, placement, nova,
#      three fake-virt computes hostA/hostB/hostC, one IPMI BMC simulator each);
#   2. vmha runs on its embedded defaults (SQLite under a state dir, one process,
#      agent heartbeats through tooz's file:// backend, no coordination server):
#      hosts and BMCs in its inventory, one vmha-agent per host, vmha-monitor
#      watching;
#   3. once vmha-monitor reports every agent alive, servers are booted on
#      hostA, then hostA hangs (its nova-compute dies and its vmha-agent
#      stops, its BMC still says "on");
#   4. vmha-monitor notices (agent heartbeat lost AND nova-compute stopped
#      reporting: two independent signals), fences hostA through IPMI, forces
#      its service down, evacuates the servers and prints which rule declared
#      the failure and the recovery's timeline.
# Env: VMHA_DEMO_DIR (default /var/tmp/vmha-demo), VMHA_DEMO_SERVERS (default 4),
#      VMHA_DEMO_LEVEL (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=${VMHA_DEMO_DIR:-/var/tmp/vmha-demo}
N=${VMHA_DEMO_SERVERS:-4}
LEVEL=${VMHA_DEMO_LEVEL:-2}
T0=$(date +%s)
say() { echo "== [$(( $(date +%s) - T0 ))s] $*"; }

say "vmha virtualenv"
# some tools write a one-line .venv FILE naming their environment: not ours
[ -d .venv ] || rm -f .venv
if [ ! -x .venv/bin/vmha-manage ]; then
  python3 -m venv .venv
  .venv/bin/pip install -q -U pip
fi
# every time: a venv of an older checkout lacks newer requirements
.venv/bin/pip install -q -e .
export PATH=$ROOT/.venv/bin:$PATH

say "real-Nova lab"
tools/lab/lab up
tools/lab/lab reset >/dev/null

say "vmha configuration (embedded defaults: SQLite in $DEMO, one process)"
rm -rf "$DEMO"; mkdir -p "$DEMO"
.venv/bin/python - "$DEMO" "$LEVEL" <<'PY'
import json, subprocess, sys
demo, level = sys.argv[1], sys.argv[2]
info = json.loads(subprocess.check_output(['tools/lab/lab', 'info']))
auth = info['auth']
with open(demo + '/vmha.conf', 'w') as f:
    f.write('[DEFAULT]\nstate_path = %s\nlog_file = %s/vmha.log\n\n' % (demo, demo))
    f.write('[inventory]\ncredential_key_file = %s/credential.key\n\n' % demo)
    f.write('[recovery]\nquick_evacuate_level = %s\nwait_service_down_interval = 0.5\n\n' % level)
    f.write('[fencing]\ndefault_driver = ipmi\npower_off_confirm_interval = 0.5\n\n')
    f.write('[evacuation]\nconfirm_interval = 0.5\n\n')
    f.write('[monitor]\npoll_interval = 1\nnova_report_interval = %s\n'
            'nova_report_grace = 1\n\n' % info['report_interval'])
    f.write('[coordination]\nheartbeat_interval = 1\nheartbeat_timeout = 3\n\n')
    f.write('[nova]\nauth_type = password\nvalid_interfaces = public\n')
    for key in ('auth_url', 'username', 'password', 'project_name',
                'user_domain_name', 'project_domain_name', 'region_name'):
        f.write('%s = %s\n' % (key, auth[key]))
with open(demo + '/hosts.txt', 'w') as f:
    for name, host in sorted(info['hosts'].items()):
        bmc = host['bmc']
        open('%s/%s.pw' % (demo, name), 'w').write(bmc['password'])
        f.write('%s %s %s %s\n' % (name, bmc['address'], bmc['port'], bmc['username']))
PY
VM="vmha-manage --config-file $DEMO/vmha.conf"
$VM credentials generate-key --output "$DEMO/credential.key"   # BMC passwords: encrypted
$VM db sync
while read -r name address port user; do
  $VM host add "$name" --fencing ipmi --bmc-address "$address" --bmc-port "$port" \
      --bmc-username "$user" --bmc-password-file "$DEMO/$name.pw" >/dev/null
done < "$DEMO/hosts.txt"
$VM host list

say "booting $N servers on hostA (one of them stopped)"
tools/lab/lab boot "$N" --host hostA --stopped 1

say "what vmha would do if hostA failed (dry run)"
$VM evacuate hostA --dry-run

say "starting one vmha-agent per host and vmha-monitor"
declare -A AGENTS
for host in hostA hostB hostC; do
  printf '[agent]\nhost = %s\n' "$host" > "$DEMO/agent-$host.conf"
  vmha-agent --config-file "$DEMO/vmha.conf" --config-file "$DEMO/agent-$host.conf" &
  AGENTS[$host]=$!
done
vmha-monitor --config-file "$DEMO/vmha.conf" &
MONITOR=$!
cleanup() {
  kill "$MONITOR" 2>/dev/null || true
  for pid in "${AGENTS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say "waiting until vmha-monitor reports every agent alive"
for _ in $(seq 1 120); do
  alive=$($VM -f json host list | .venv/bin/python -c \
    'import json,sys; print(sum(h["agent"] == "alive" for h in json.load(sys.stdin)))')
  [ "$alive" = 3 ] && break
  sleep 1
done
if [ "$alive" != 3 ]; then
  echo "vmha-monitor did not see the three agents alive; see $DEMO/vmha.log" >&2
  exit 1
fi
$VM host list

say "hostA hangs: its nova-compute dies and its vmha-agent stops, its BMC still says on"
tools/lab/lab fail hostA --mode kill
kill -STOP "${AGENTS[hostA]}"
FAILED_AT=$(date +%s)

say "waiting for vmha-monitor to notice and recover hostA"
for _ in $(seq 1 240); do
  state=$($VM -f json recovery list --host hostA | .venv/bin/python -c \
    'import json,sys; r=json.load(sys.stdin); print(r[0]["state"] if r else "none")')
  case $state in completed|completed_with_errors|failed) break ;; esac
  sleep 1
done
say "recovery $state, $(( $(date +%s) - FAILED_AT ))s after the failure"
ID=$($VM -f json recovery list --host hostA | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
say "the rule that declared hostA failed:"
$VM -f json recovery show "$ID" --events | .venv/bin/python -c '
import json, sys
events = json.load(sys.stdin)["events"]
print("  " + next((e["payload"].get("source", "") for e in events
                   if e["event_type"] == "vmha.host.failure"), "(none)"))'
$VM recovery show "$ID" --events
say "servers as Nova reports them now"
tools/lab/lab status
[ "$state" = completed ]
