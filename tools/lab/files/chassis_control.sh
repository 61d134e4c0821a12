#!/bin/sh
# ipmi_sim's chassis_control program for one lab host: the BMC's chassis
# power *is* that host's nova-compute.  ipmi_sim calls it as
#   chassis_control.sh HOST_ENV get power        -> prints power:0|1
#   chassis_control.sh HOST_ENV set power 0|1 [boot ...]
# "set power 0" SIGKILLs the compute's process group (pid file), so Nova stops
# hearing its heartbeat; "set power 1" starts it unless it runs.  While the
# host's STUCK_FILE exists the BMC ignores power-off (and still says on), to
# test "fencing cannot confirm power off".  HOST_ENV is written by `lab up`.
. "$1"
shift
op=$1
shift
[ -f "$POWER_FILE" ] || echo 1 > "$POWER_FILE"
echo "$(date '+%F %T') $op $*" >> "$CHASSIS_LOG"

start_time() {
    # field 22 of /proc/PID/stat (after the command name, which may hold
    # spaces): with the pid, it tells a recycled pid from ours
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

proc_state() {
    # field 3 of /proc/PID/stat: R, S, T, Z (zombie: killed, not yet reaped)
    sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1
}

compute_pid() {
    # the pid recorded in PID_FILE ("PID STARTTIME") if that process runs;
    # a zombie is not running (a killed compute whose parent has not
    # reaped it yet must not stop a power-on)
    read -r pid started 2>/dev/null < "$PID_FILE" || return 1
    [ -n "$pid" ] && [ "$(start_time "$pid")" = "$started" ] || return 1
    [ "$(proc_state "$pid")" != Z ] || return 1
    echo "$pid"
}

power_off() {
    if [ -f "$STUCK_FILE" ]; then
        echo "$(date '+%F %T') stuck: power-off ignored" >> "$CHASSIS_LOG"
        return 0
    fi
    echo 0 > "$POWER_FILE"
    pid=$(compute_pid) && kill -KILL "-$pid"
    return 0
}

power_on() {
    echo 1 > "$POWER_FILE"
    compute_pid > /dev/null && return 0
    # own session (pid = process group), output to its log, not to ipmi_sim;
    # the shell records its pid and start time, then becomes nova-compute
    export PID_FILE COMPUTE_CMD
    setsid sh -c 'echo "$$ $(sed "s/.*) //" /proc/$$/stat | cut -d" " -f20)" \
                  > "$PID_FILE"; exec $COMPUTE_CMD' >> "$OUT_FILE" 2>&1 < /dev/null &
}

case $op in
  get)
    for param in "$@"; do
      case $param in
        power) echo "power:$(cat "$POWER_FILE")" ;;
        boot) echo "boot:default" ;;
        *) echo "Invalid parameter: $param"; exit 1 ;;
      esac
    done ;;
  set)
    while [ $# -ge 2 ]; do
      case $1 in
        power) if [ "$2" = 0 ]; then power_off; else power_on; fi ;;
        reset|boot|identify) ;;
        *) echo "Invalid parameter: $1"; exit 1 ;;
      esac
      shift 2
    done ;;
  check) exit 1 ;;
  *) echo "Unknown operation: $op"; exit 1 ;;
esac
