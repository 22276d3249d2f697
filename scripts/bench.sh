#!/usr/bin/env bash
# Side-by-side benchmark of one training iteration of the seed net (VGG19, CIFAR-10 shapes) for
# Reports/BENCHMARKS.md: for each batch size and thread count, interleaved rounds of
#   initdiag bench --probes on   (kernels chosen, minor faults and system CPU share per iteration)
#   PyTorch (scripts/reference/bench_torch.py, same net, solver, batch and thread count)
#   initdiag bench --probes off
# so machine noise hits all three alike. Prints markdown: date, commit, CPU model, the kernels
# chosen at run time (OpenBLAS core, statistics ISA, convolution algorithm per layer), per batch
# the medians, the ratio to PyTorch (probes on and off) and the thread scaling (1 → N threads).
#
# Needs a PyTorch venv (scripts/reference/README.md); TORCH_PY is its python (default
# /tmp/venv-torch/bin/python); without it the PyTorch columns are skipped.
# Usage: bash scripts/bench.sh [batches "16 128"] [threads "1 2"] [iterations 5] [rounds 2]
set -euo pipefail
cd "$(dirname "$0")/.."
batches=${1:-"16 128"}; threadset=${2:-"1 2"}; iters=${3:-5}; rounds=${4:-2}
py=${TORCH_PY:-/tmp/venv-torch/bin/python}
bash scripts/setup.sh >/dev/null
swift build -c release --product initdiag >/dev/null
have_torch=1; "$py" -c "import torch" 2>/dev/null || have_torch=0
out=$(mktemp -d)
bin=.build/release/initdiag
for b in $batches; do
  for t in $threadset; do
    for r in $(seq 1 "$rounds"); do
      echo "batch $b, $t threads, round $r/$rounds" >&2
      "$bin" bench --solver Fixtures/seed/solver.prototxt --batch-size "$b" --iterations "$iters" \
        --threads "$t" --probes on --json > "$out/on-$b-$t-$r.json"
      if [ "$have_torch" = 1 ]; then
        "$py" scripts/reference/bench_torch.py --threads "$t" --batch-size "$b" --iterations "$iters" \
          --no-layers --json > "$out/torch-$b-$t-$r.json"
      fi
      "$bin" bench --solver Fixtures/seed/solver.prototxt --batch-size "$b" --iterations "$iters" \
        --threads "$t" --probes off --json > "$out/off-$b-$t-$r.json"
    done
  done
done
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
python3 - "$out" "$rounds" "$iters" "$commit" "$have_torch" "$batches" "$threadset" <<'PY'
import json, sys, statistics, os, datetime, glob
out, rounds, iters, commit, have_torch = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] == "1"
batches = [int(x) for x in sys.argv[6].split()]; threads = [int(x) for x in sys.argv[7].split()]
def load(kind, b, t): return [json.load(open(f"{out}/{kind}-{b}-{t}-{r}.json")) for r in range(1, rounds + 1)]
def med(runs, key): return statistics.median(r[key] for r in runs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
flags = next((l.split(":", 1)[1].split() for l in open("/proc/cpuinfo") if l.startswith("flags")), [])
isa = "+".join(f for f in ["avx2", "fma", "avx512f"] if f in flags) or "baseline"
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
print(f"### {now}, commit {commit}\n")
print(f"Machine: {os.cpu_count()} cores, {cpu} (CPU flags: {isa}); {iters} timed iterations × {rounds} interleaved rounds; "
      "medians of rounds.\n")
k = load("on", batches[0], threads[-1])[0]["kernels"]
print(f"Kernels chosen at run time: OpenBLAS core **{k['blas_core']}** (single-threaded; products split over the engine's "
      f"threads), statistics kernels **{k['statistics_isa']}**.\n")
for b in batches:
    k = load("on", b, threads[-1])[0]["kernels"]["convolution"]
    layers = [l["name"] for l in load("on", b, threads[-1])[0]["layers"] if l["name"] in k]
    print(f"Convolution algorithm per layer at batch {b}: " + ", ".join(f"{n} {k[n]}" for n in layers) + "\n")
print("| batch | threads | initdiag probes off s | probes on s | PyTorch s | on / PyTorch | off / PyTorch | "
      "system CPU % (on) | minor faults / iteration (on) | peak RSS MiB (on) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
times = {}
for b in batches:
    for t in threads:
        on, off = load("on", b, t), load("off", b, t)
        ton, toff = med(on, "iteration_s"), med(off, "iteration_s")
        times[(b, t)] = (ton, toff)
        if have_torch:
            tt = med(load("torch", b, t), "iteration_s")
            tcols = f"{tt:.3f} | **{ton/tt:.2f}** | {toff/tt:.2f}"
        else:
            tcols = "– | – | –"
        print(f"| {b} | {t} | {toff:.3f} | {ton:.3f} | {tcols} | {100*med(on, 'system_cpu_fraction'):.1f} | "
              f"{med(on, 'minor_faults_per_iteration'):.1f} | {max(r['peak_rss_bytes'] for r in on)/2**20:.0f} |")
if len(threads) > 1:
    lo, hi = threads[0], threads[-1]
    print(f"\nThread scaling ({lo} → {hi} threads, time at {lo} / time at {hi}):")
    for b in batches:
        (on1, off1), (onN, offN) = times[(b, lo)], times[(b, hi)]
        print(f"- batch {b}: probes on **{on1/onN:.2f}×**, probes off {off1/offN:.2f}×")
PY
