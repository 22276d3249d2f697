#!/usr/bin/env bash
# Checks the README's cluster recipe end to end on this machine (not part of the test suite):
# installs Debian's Slurm (slurm-wlm) and munge, starts a one-node cluster on localhost (munged,
# slurmctld, slurmd, all as root, configuration in a temporary folder), submits the documented job
# array — `initdiag sweep … --shard $SLURM_ARRAY_TASK_ID/N` — for a small sweep (the tiny CIFAR
# net on the built-in synthetic data, four schemes), waits for it, merges with `initdiag report`,
# runs the same sweep unsharded and checks that both summary.json files agree (timings aside).
# Stops the daemons it started on exit. Needs root (apt-get, munge key, daemons).
# Usage: bash scripts/slurm-check.sh [shards 2]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
shards=${1:-2}
bash scripts/setup.sh >/dev/null
command -v slurmctld >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null; }
swift build -c release --product initdiag >/dev/null
bin=$root/.build/release/initdiag

work=$(mktemp -d /tmp/initdiag-slurm.XXXXXX)
chmod 755 "$work"
host=$(hostname -s)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.5; done
  done
}
trap cleanup EXIT

# munge: a key of our own and a daemon on its own socket.
mkdir -p "$work/munge" && chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
sock=$work/munge/munge.socket
munged --force --key-file="$work/munge/munge.key" --socket="$sock" \
  --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed"
pids+=("$(cat "$work/munge/munged.pid")")

cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
mkdir -p "$work/state" "$work/spool" "$work/log"
cat > "$work/slurm.conf" <<CONF
ClusterName=initdiag-check
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=check Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$work/slurm.conf
slurmctld -f "$SLURM_CONF"
sleep 1; pids+=("$(cat "$work/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
sleep 1; pids+=("$(cat "$work/slurmd.pid")")
for _ in $(seq 1 30); do
  sinfo -h -o "%t" 2>/dev/null | grep -qE "idle|mix|alloc" && break
  sleep 1
done
echo "cluster: $(sinfo -h -o '%P %D nodes %c CPUs %t')"

schemes="w=as-declared,b=as-declared,bn=off;w=caffe-msra,b=zero,bn=off;w=torch-default,b=torch-default,bn=off;w=torch-default,b=torch-default,bn=on"
sweep=(sweep --solver "$root/Fixtures/nets/tiny_cifar.solver.prototxt" --data synthetic --batch-size 8
       --iterations 20 --test-iter 2 --threads 1 --schemes "$schemes")
last=$((shards - 1))
# The job array as the README documents it.
cat > "$work/sweep.sbatch" <<JOB
#!/usr/bin/env bash
#SBATCH --array=0-$last
#SBATCH --cpus-per-task=1
#SBATCH --output=$work/log/task-%a.out
$bin ${sweep[*]@Q} --out $work/sharded --shard \$SLURM_ARRAY_TASK_ID/$shards
JOB
job=$(sbatch --parsable "$work/sweep.sbatch")
echo "submitted job array $job (tasks 0-$last)"
for _ in $(seq 1 1800); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  sleep 1
done
sacct_state=$(scontrol show job "$job" 2>/dev/null | grep -o 'JobState=[A-Z]*' | sort | uniq -c | tr '\n' ' ' || true)
echo "array finished: ${sacct_state:-gone from the queue}"
for f in "$work"/log/task-*.out; do echo "--- $(basename "$f"): $(tail -1 "$f")"; done
"$bin" report "$work/sharded" >/dev/null
"$bin" "${sweep[@]}" --out "$work/unsharded" >/dev/null

python3 - "$work/sharded/summary.json" "$work/unsharded/summary.json" <<'PY'
import json, sys
# The whole summary must agree: schemes, verdicts, iterations, losses, accuracies, findings
# (nothing in it depends on timing or on the output folder).
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if a != b:
    print("MISMATCH between the merged sharded summary and the unsharded one")
    for va, vb in zip(a.get("variants", []), b.get("variants", [])):
        if va != vb:
            print(" sharded:  ", json.dumps(va)[:600]); print(" unsharded:", json.dumps(vb)[:600])
    sys.exit(1)
print(f"merged summary of the sharded sweep equals the unsharded run ({len(a['variants'])} variants):")
for v in a["variants"]:
    print(f"  {v['scheme']:<45} {v['verdict']:<16} {v['iterations_run']:>3} iterations, "
          f"loss {v['loss_first']:.4f} -> {v['loss_last']:.4f}, test accuracy {v['test_accuracy']}")
PY
