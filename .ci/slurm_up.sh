#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests/test_slurm.py: Debian's munge, slurmctld, slurmd and
# slurmdbd (over MariaDB: submitit polls job states with `sacct`, which needs accounting storage).
# Run as root on a Debian-like machine; a second call while the cluster is up does nothing.
set -euo pipefail

up() { sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }
if command -v sinfo >/dev/null && up && sacct -n -X -S now >/dev/null 2>&1; then
    echo "slurm: already up"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "error: .ci/slurm_up.sh installs and starts daemons: run it as root" >&2; exit 2; }
started=$SECONDS

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
fi

# --- MariaDB and slurmdbd: the accounting store behind sacct -------------------------------------------
mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
if ! mariadb-admin ping >/dev/null 2>&1; then
    (mariadbd-safe --skip-networking=0 --bind-address=127.0.0.1 >/dev/null 2>&1 &)
    for _ in $(seq 60); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.5; done
fi
mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db; CREATE USER IF NOT EXISTS 'slurm'@'localhost' \
IDENTIFIED BY 'slurm-ci'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

mkdir -p /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm /run/slurm
chown -R slurm:slurm /var/lib/slurm /var/log/slurm /run/slurm
cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=/var/log/slurm/slurmdbd.log
PidFile=/run/slurm/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm-ci
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm /etc/slurm/slurmdbd.conf && chmod 600 /etc/slurm/slurmdbd.conf

# --- slurm.conf: this node, one partition; cons_tres so jobs share the node's CPUs ----------------------
node=$(slurmd -C | head -n1)
host=$(hostname -s)
cat >/etc/slurm/slurm.conf <<EOF
ClusterName=ci
SlurmctldHost=$host
AuthType=auth/munge
# a requeued job waits cred_expire seconds before it starts again (SLURM's default: 120 s)
AuthInfo=cred_expire=10
SlurmUser=slurm
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# look at pending jobs every 2 s (SLURM's default: 60 s), so a requeued job starts soon after cred_expire
SchedulerParameters=sched_interval=2,bf_interval=2
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
KillWait=10
MinJobAge=600
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

# --- the daemons ---------------------------------------------------------------------------------------
mkdir -p /run/munge && chown munge:munge /run/munge
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
pgrep -x munged >/dev/null || runuser -u munge -- munged
pgrep -x slurmdbd >/dev/null || slurmdbd
for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i -Q add cluster ci >/dev/null 2>&1 || true
pgrep -x slurmctld >/dev/null || slurmctld
pgrep -x slurmd >/dev/null || slurmd
for _ in $(seq 120); do up && break; sleep 0.5; done
up || { echo "error: the SLURM node did not come up: see /var/log/slurm/" >&2; sinfo >&2 || true; exit 1; }
sacct -n -X -S now >/dev/null
echo "slurm: one node up in $((SECONDS - started)) s: $(sinfo -h -o '%N %c CPUs %T')"
