#!/bin/sh
# RunProc job wrapper: runs one job's command and records its start, end and exit code in a status
# file next to the log, so "the command failed with 3" is told apart from "the scheduler killed it".
#
# Usage: runproc-job.sh STATUSFILE LOGFILE|- LIMIT_SECONDS SLOTDIR|- NSLOTS -- COMMAND [ARG...]
#   LOGFILE        '-' when the batch system already sends output to the log (Slurm -o, LSF -o)
#   LIMIT_SECONDS  0 when the batch system enforces the time limit itself
#   SLOTDIR NSLOTS the local scheduler's concurrency limit: wait for one of NSLOTS flock slots
# The command runs as "$@": no argument is ever evaluated by this shell.
# Status lines: 'queued|start|group|stop|timeout|orphan|end <local time+offset> <details>' (end: 'exit N' or
# 'signal NAME'; group: 'pgid G watchdog D').
#
# When this wrapper enforces the time limit (LIMIT_SECONDS > 0, the local scheduler), the command
# runs in a session and process group of its own (setsid), and a watchdog in another session ends
# that whole group (TERM, then KILL after RUNPROC_KILL_GRACE seconds, default 10) at the time
# limit, on a cancel, when the command's leader exits leaving others behind, or when this wrapper
# dies (even by SIGKILL). The wrapper records its end only after the group and the watchdog are
# gone, so nothing of a job outlives it. Only 'kill -SIG -PGID' is used: dash has no 'kill --'.
# Every process of the job carries RUNPROC_JOB_STATUS=<status file> in its environment.
#
# The status file and the log lie in the group-writable DB tree, where anyone of the group may
# plant a symbolic link: this wrapper never writes through a path a link could redirect. The local
# scheduler opens both files itself (no link followed, regular files only) and passes their
# descriptors in RUNPROC_STATUS_FD and RUNPROC_LOG_FD; they are reached as /dev/fd/N, the open file
# itself. Under Slurm and LSF (LOGFILE '-') the status file must be the regular file RunProc created
# before submitting: it is opened once (read-write, so neither truncated nor blocked by a FIFO) and
# kept only if the descriptor is the very file at the path (same device and inode, one link, no
# symbolic link); otherwise nothing is written to it, the command does not run and the exit code is 125.

# Signal every process of the job's group (before the child's setsid(), only the child itself).
signal_job() { kill -"$1" -"$2" 2>/dev/null || kill -"$1" "$2" 2>/dev/null; }
job_alive() { kill -0 -"$1" 2>/dev/null || kill -0 "$1" 2>/dev/null; }
# One time base in the log and the status file: local time with its UTC offset (as RunProc's own lines).
now() { date +%Y-%m-%dT%H:%M:%S%:z; }
record() { printf '%s %s %s\n' "$1" "$(now)" "$2" >>"$statusio"; }

# A process is alive unless it is gone or a zombie (a dead wrapper waiting for its parent to reap it).
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    st=""
    { read -r st <"/proc/$1/stat"; } 2>/dev/null
    case $st in
        "" | *") Z "* | *") X "*) return 1 ;;
    esac
    return 0
}

# A stop was asked for: a 'cancel' line (the local scheduler) or a 'stop' line (a signal to the wrapper).
stop_asked() {
    while read -r word _; do
        case $word in cancel | stop) return 0 ;; esac
    done <"$statusio"
    return 1
}

if [ "${1-}" = "--watchdog" ]; then
    # Watchdog: --watchdog STATUSFILE WRAPPERPID GROUP LIMIT_SECONDS GRACE_SECONDS STATUSIO (the
    # wrapper's /dev/fd/N of the status file, inherited). Polls once a
    # second (no signals between wrapper and watchdog, so no start-up race), runs until the group is empty.
    status=$2 wrapper=$3 group=$4 limit=$5 grace=$6 statusio=${7:-$2}
    ending="" elapsed=0 termed=0
    while job_alive "$group"; do
        if [ -z "$ending" ]; then
            if ! alive "$wrapper"; then
                ending=orphan
                record orphan "wrapper $wrapper gone: ending process group $group"
            elif ! kill -0 "$group" 2>/dev/null; then
                ending=leftovers # the leader exited and was reaped; what it left behind goes too
            elif stop_asked; then
                ending=stop
            elif [ "$elapsed" -ge "$limit" ]; then
                ending=timeout
                record timeout "limit ${limit} s"
            fi
        fi
        if [ -n "$ending" ]; then
            if [ "$termed" -eq 0 ]; then
                signal_job TERM "$group"
            elif [ "$termed" -gt "$grace" ]; then
                signal_job KILL "$group"
            fi
            termed=$((termed + 1))
        fi
        sleep 1
        elapsed=$((elapsed + 1))
    done
    exit 0
fi

status=$1 log=$2 limit=$3 slotdir=$4 nslots=$5
shift 5
[ "${1-}" = "--" ] && shift
grace=${RUNPROC_KILL_GRACE:-10}
case $grace in "" | *[!0-9]*) grace=10 ;; esac
RUNPROC_JOB_STATUS=$status
export RUNPROC_JOB_STATUS

refuse() {
    echo "runproc-job: $(now) refused: $1; the command was not run. RunProc creates the job's files before it starts; remove what was put in their place ($status)." >&2
    exit 125
}
# A descriptor passed by the local scheduler: fdpath is set to a path that reaches the open file
# itself (never the DB tree); false when none was passed.
fd_path() {
    fdpath=""
    case $1 in
        "") return 1 ;;
        *[!0-9]*) refuse "'$1' is not a file descriptor" ;;
    esac
    [ -e "/dev/fd/$1" ] || refuse "descriptor $1 is not open"
    fdpath=/dev/fd/$1
}
# The status file RunProc created, on descriptor 3, proven to be that regular file (see above).
open_status() {
    [ -f "$status" ] && [ ! -L "$status" ] || refuse "the status file is missing, a link or not a regular file"
    # 'command': a failed redirection of exec must not end the shell before it says why.
    command exec 3<>"$status" || refuse "cannot open the status file"
    opened=$(stat -L -c '%d:%i:%h:%F' /dev/fd/3 2>/dev/null)
    named=$(stat -c '%d:%i:%h:%F' -- "$status" 2>/dev/null)
    case $opened in
        *:*:1:regular*) [ "$opened" = "$named" ] && return 0 ;;
    esac
    exec 3>&-
    refuse "the status file was replaced while it was opened (by a link or another file)"
}
if [ "$log" != "-" ]; then
    fd_path "${RUNPROC_LOG_FD-}" || refuse "a log is written only through the descriptor the local scheduler opened (RUNPROC_LOG_FD)"
    exec </dev/null >>"$fdpath" 2>&1
else
    exec </dev/null
fi
if fd_path "${RUNPROC_STATUS_FD-}"; then
    statusio=$fdpath
elif [ "$slotdir" = "-" ]; then
    open_status
    statusio=/dev/fd/3
else
    refuse "a local job needs the status file's descriptor (RUNPROC_STATUS_FD) from the local scheduler"
fi
unset RUNPROC_STATUS_FD RUNPROC_LOG_FD
host=$(hostname 2>/dev/null || echo unknown)
record queued "pid $$ host $host"

child=""
watchdog=""
stop=""
stopcode=0
on_signal() {
    stop=$1 stopcode=$2
    record stop "signal $1"
    # The watchdog sees the stop line and KILLs the group after the grace.
    [ -n "$child" ] && signal_job TERM "$child"
}
trap 'on_signal TERM 143' TERM
trap 'on_signal INT 130' INT
trap 'on_signal HUP 129' HUP

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
    # The command inherits the slots' descriptors: they stay taken while any of it runs.
    while [ -z "$slot" ] && [ -z "$stop" ]; do
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

if [ -n "$stop" ]; then
    # Cancelled before it started.
    record end "signal $stop"
    exit "$stopcode"
fi
record start "pid $$ host $host${slot:+ slot $slot}"
echo "runproc-job: $(now) start on $host: $*"
if [ "$limit" -gt 0 ] && command -v setsid >/dev/null 2>&1; then
    # A background child of this shell is never a group leader, so setsid(1) does not fork:
    # $! is the command, the leader of its new session and process group.
    setsid "$@" &
    child=$!
    setsid /bin/sh "$0" --watchdog "$status" "$$" "$child" "$limit" "$grace" "$statusio" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- </dev/null &
    watchdog=$!
    record group "pgid $child watchdog $watchdog"
    # A signal that came while the command was being started found no group to forward to.
    [ -n "$stop" ] && on_signal "$stop" "$stopcode"
else
    "$@" &
    child=$!
    [ -n "$stop" ] && on_signal "$stop" "$stopcode"
fi
# A trapped signal interrupts 'wait' with a status > 128: wait again until the child is reaped.
while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
done
if [ -n "$watchdog" ]; then
    # The leader has exited: the watchdog ends whatever is left of its group, then exits.
    while :; do
        wait "$watchdog"
        kill -0 "$watchdog" 2>/dev/null || break
    done
fi
if [ -n "$stop" ]; then
    record end "signal $stop"
    exit "$stopcode"
fi
echo "runproc-job: $(now) end: exit code $rc"
record end "exit $rc"
exit "$rc"
