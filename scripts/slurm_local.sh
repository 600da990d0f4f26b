#!/usr/bin/env bash
# A one-node Slurm cluster in a folder on this machine: for the tests, and for trying the cluster
# path on a workstation before a real cluster. Needs Debian's (or Ubuntu's) packages:
#     apt-get install slurmctld slurmd munge slurm-client
#
#     scripts/slurm_local.sh up [DIR]     start munged, slurmctld and slurmd (about 20 s); prints
#                                         the line that points sbatch & co. at this cluster
#     scripts/slurm_local.sh down [DIR]   stop them (running jobs are killed)
#
# DIR defaults to $STUDY_SLURM_LOCAL_DIR or /tmp/study-slurm. Everything (config, munge key,
# sockets, state, logs) lives there; nothing of the system's Slurm or munge is touched. The node
# offers this machine's cores and 90% of its memory in one partition, "local". Jobs run as the
# user who started it; slurmd must start as root to run jobs as others, so run `up` as root (or
# under sudo) where jobs come from several users.
set -euo pipefail

cmd=${1:-}
DIR=$(realpath -m "${2:-${STUDY_SLURM_LOCAL_DIR:-/tmp/study-slurm}}")
CONF="$DIR/slurm.conf"

need() {
    for tool in munged mungekey slurmctld slurmd sinfo; do
        command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin" command -v "$tool" >/dev/null || {
            echo "error: $tool not found: apt-get install slurmctld slurmd munge slurm-client" >&2; exit 2; }
    done
    export PATH="$PATH:/usr/sbin"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

up() {
    need
    if [[ -f "$DIR/slurmctld.pid" ]] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
        echo "already up: export SLURM_CONF=$CONF"; return 0
    fi
    mkdir -p "$DIR"/{munge,state,spool,log}
    chmod 700 "$DIR/munge"
    [[ -f "$DIR/munge/munge.key" ]] || mungekey --create --keyfile="$DIR/munge/munge.key"
    munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed"

    local node cpus mem_mb user ctld_port=16817 d_port=16818
    node=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
    user=$(id -un)
    while ! port_free "$ctld_port" || ! port_free "$d_port"; do ctld_port=$((ctld_port + 2)); d_port=$((d_port + 2)); done
    cat > "$CONF" <<CONF
# Written by scripts/slurm_local.sh: a one-node cluster for trying and testing the cluster path.
ClusterName=study-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CryptoType=crypto/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/builtin
JobRequeue=1
ReturnToService=2
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MailProg=/bin/true
KillWait=30
MinJobAge=600
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$CONF"
    slurmctld -f "$CONF"
    slurmd -f "$CONF"
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "up: $(sinfo -h -o '%P %D node, %c CPUs, %m MB, %T') ($(sinfo -V))"
            echo "export SLURM_CONF=$CONF"
            return 0
        fi
        sleep 1
    done
    echo "error: the node did not come up within 60 s; see $DIR/log/" >&2
    tail -n 5 "$DIR"/log/*.log >&2 || true
    exit 1
}

down() {
    export PATH="$PATH:/usr/sbin"
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        if [[ -f "$pidfile" ]]; then
            pid=$(cat "$pidfile")
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            rm -f "$pidfile"
        fi
    done
    echo "down: $DIR"
}

case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down [DIR]" >&2; exit 2 ;;
esac
