#!/usr/bin/env bash
# Starts a one-node Slurm (slurmctld + slurmd on localhost, munge for auth) for the RunProc tests,
# without systemd or cgroups. Idempotent: when the cluster already answers and the node is idle or
# busy, it returns in ~0.1 s. The packages come from tests/setup/install-prerequisites.sh.
# Daemons are stopped by the PIDs in their pid files, never by name.
# Facts behind the settings: ../shared/reference/slurm-single-node.md.
set -euo pipefail

log() { echo "start-slurm: $*" >&2; }
die() { log "$*"; exit 1; }

for cmd in slurmctld slurmd munged scontrol sinfo; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || die "'$cmd' is not installed; run tests/setup/install-prerequisites.sh (as root) first."
done
export PATH="$PATH:/usr/sbin:/sbin"
[ "$(id -u)" = 0 ] || die "must run as root (it writes /etc/slurm and starts daemons)."

node=$(hostname -s 2>/dev/null || hostname)
conf=/etc/slurm/slurm.conf
marker="# Written by RunProc tests/setup/start-slurm.sh"

node_state() { sinfo -h -n "$node" -o %t 2>/dev/null | head -n1 | tr -d '*~#$@+' || true; }

alive() { # pid file -> the process is running (a zombie counts as dead)
  local f=$1 pid st
  [ -s "$f" ] || return 1
  pid=$(cat "$f" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$st" != Z ]
}

# --- slurm.conf --------------------------------------------------------------------------------
cpus=$(nproc)
mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
mem_mb=$(( mem_kb * 95 / 100 / 1024 ))
# The node's real topology (slurmd -C): a CPUs= count that disagrees with sockets/cores/threads
# leaves the node INVAL on machines with hyper-threads. Fall back to CPUs= alone.
topology="CPUs=${cpus}"
if hw=$(slurmd -C 2>/dev/null | head -n1) && [ -n "$hw" ]; then
  t=$(printf '%s\n' "$hw" | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ' | sed 's/ $//')
  [ -n "$t" ] && topology=$t
fi
want=$(cat <<EOF
$marker (one-node test cluster).
ClusterName=runproc
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
EnforcePartLimits=ALL
ReturnToService=2
MinJobAge=300
MaxJobCount=100000
KillWait=5
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
NodeName=${node} NodeAddr=127.0.0.1 ${topology} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
EOF
)
restart=0
if [ -f "$conf" ] && ! grep -qF "$marker" "$conf"; then
  log "keeping the existing $conf (not written by RunProc)."
elif [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  restart=1
fi

# Fast path: everything already up.
if [ "$restart" = 0 ] && alive /run/munge/munged.pid && alive /run/slurmctld.pid && alive /run/slurmd.pid \
   && scontrol ping 2>/dev/null | grep -q UP; then
  case "$(node_state)" in idle|mix|alloc|comp) exit 0 ;; esac
fi

# --- munge -------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  log "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null 2>&1 || [ -x /usr/sbin/mungekey ]; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown munge:munge /etc/munge/munge.key
  chmod 0400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if ! alive /run/munge/munged.pid || ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  # --force survives a stale socket left by a killed munged.
  runuser -u munge -- munged --force
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || die "munged does not answer (munge -n | unmunge failed)."
fi

if [ "$restart" = 1 ]; then
  mkdir -p /etc/slurm
  printf '%s\n' "$want" > "$conf.tmp.$$" && mv -f "$conf.tmp.$$" "$conf"
  chmod 0644 "$conf"
fi
mkdir -p /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
touch /var/log/slurm/jobcomp.log
# sacct -c opens the job-completion file for writing even to read it.
chmod 0666 /var/log/slurm/jobcomp.log

stop_pidfile() {
  local f=$1 pid
  alive "$f" || return 0
  pid=$(cat "$f")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$f" || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}
if [ "$restart" = 1 ]; then
  stop_pidfile /run/slurmd.pid
  stop_pidfile /run/slurmctld.pid
fi

# --- daemons -----------------------------------------------------------------------------------
if ! alive /run/slurmctld.pid; then
  log "starting slurmctld"
  slurmctld
fi
for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld does not answer; see /var/log/slurm/slurmctld.log."
if ! alive /run/slurmd.pid; then
  log "starting slurmd"
  slurmd -N "$node"
fi

state=""
for _ in $(seq 1 150); do
  state=$(node_state)
  case "$state" in
    idle|mix|alloc|comp) break ;;
    drain|drng|down|fail|failg)
      scontrol update NodeName="$node" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 0.2
done
case "$state" in
  idle|mix|alloc|comp) log "Slurm is up: node $node $state, $cpus CPUs." ;;
  *) die "node $node is '$state' after 30 s; see /var/log/slurm/slurmd.log and slurmctld.log." ;;
esac
