#!/bin/sh
# RunProc job wrapper: runs one job's command and records its start, end and exit code in a status
# file next to the log, so "the command failed with 3" is told apart from "the scheduler killed it".
#
# Usage: runproc-job.sh STATUSFILE LOGFILE|- LIMIT_SECONDS SLOTDIR|- NSLOTS -- COMMAND [ARG...]
#   LOGFILE        '-' when the batch system already sends output to the log (Slurm -o, LSF -o)
#   LIMIT_SECONDS  0 when the batch system enforces the time limit itself
#   SLOTDIR NSLOTS the local scheduler's concurrency limit: wait for one of NSLOTS flock slots
# The command runs as "$@": no argument is ever evaluated by this shell.
# Status lines: 'queued|start|end|timeout <UTC time> <details>' (end: 'exit N' or 'signal NAME').
status=$1 log=$2 limit=$3 slotdir=$4 nslots=$5
shift 5
[ "${1-}" = "--" ] && shift
if [ "$log" != "-" ]; then
    exec </dev/null >>"$log" 2>&1
else
    exec </dev/null
fi
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
record() { printf '%s %s %s\n' "$1" "$(now)" "$2" >>"$status"; }
host=$(hostname 2>/dev/null || echo unknown)
record queued "pid $$ host $host"

slot=""
if [ "$slotdir" != "-" ] && [ "$nslots" -gt 0 ]; then
    # Slots are flock'ed files: the kernel frees a slot when its holder dies, so no slot leaks.
    # A job with Cpus = n (RUNPROC_JOB_SLOTS) takes n slots, all or none (no job holds part of the
    # machine while it waits); sh has file descriptors 3-9 for them, so at most 7.
    need=${RUNPROC_JOB_SLOTS:-1}
    case $need in ''|*[!0-9]*) need=1 ;; esac
    [ "$need" -gt "$nslots" ] && need=$nslots
    [ "$need" -gt 7 ] && need=7
    [ "$need" -lt 1 ] && need=1
    while [ -z "$slot" ]; do
        k=1 fd=9 got=""
        while [ "$k" -le "$nslots" ] && [ "$fd" -gt $((9 - need)) ]; do
            eval "exec $fd>>\"\$slotdir/slot-$k.lock\""
            if flock -n "$fd"; then got="$got${got:+,}$k"; fd=$((fd - 1)); else eval "exec $fd>&-"; fi
            k=$((k + 1))
        done
        if [ "$fd" -gt $((9 - need)) ]; then
            while [ "$fd" -lt 9 ]; do fd=$((fd + 1)); eval "exec $fd>&-"; done
            sleep 1
        else
            slot=$got
        fi
    done
fi

child=""
watchdog=""
on_signal() {
    record end "signal $1"
    [ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
    [ -n "$child" ] && kill -TERM "$child" 2>/dev/null
    exit "$2"
}
trap 'on_signal TERM 143' TERM
trap 'on_signal INT 130' INT
trap 'on_signal HUP 129' HUP

record start "pid $$ host $host${slot:+ slot $slot}"
echo "runproc-job: $(now) start on $host: $*"
"$@" &
child=$!
if [ "$limit" -gt 0 ]; then
    (
        exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
        trap 'kill "$s" 2>/dev/null; exit 0' TERM
        sleep "$limit" &
        s=$!
        wait "$s"
        record timeout "limit ${limit} s"
        # The wrapper leads its own process group (started by setsid): stop the whole job.
        kill -TERM -- -$$ 2>/dev/null || kill -TERM "$child" 2>/dev/null
    ) &
    watchdog=$!
fi
wait "$child"
rc=$?
[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
record end "exit $rc"
echo "runproc-job: $(now) end: exit code $rc"
exit "$rc"
