#!/usr/bin/env bash
# Side-by-side benchmark of one training iteration of the seed net (VGG19, batch 128): initdiag
# without probes and PyTorch on the same machine and thread count, interleaved in one run so
# machine noise hits both; and the probes' cost, measured inside one process with iterations
# alternating between recording and not (`initdiag bench --probes alternate`). Prints markdown
# for Reports/BENCHMARKS.md.
#
# Needs a PyTorch venv (scripts/reference/README.md); set TORCH_PY to its python
# (default /tmp/venv-torch/bin/python). Usage: bash scripts/bench.sh [threads] [batch] [iterations] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}; batch=${2:-128}; iters=${3:-5}; rounds=${4:-2}
py=${TORCH_PY:-/tmp/venv-torch/bin/python}
bash scripts/setup.sh
swift build -c release --product initdiag >/dev/null
out=$(mktemp -d)
for r in $(seq 1 "$rounds"); do
  .build/release/initdiag bench --solver Fixtures/seed/solver.prototxt --batch-size "$batch" --iterations "$iters" \
    --threads "$threads" --probes off --json > "$out/off-$r.json"
  "$py" scripts/reference/bench_torch.py --threads "$threads" --batch-size "$batch" --iterations "$iters" --json > "$out/torch-$r.json"
  .build/release/initdiag bench --solver Fixtures/seed/solver.prototxt --batch-size "$batch" --iterations "$iters" \
    --threads "$threads" --probes alternate --json > "$out/alt-$r.json"
done
python3 - "$out" "$rounds" "$threads" "$batch" "$iters" <<'PY'
import json, sys, statistics, platform, os
out, rounds, threads, batch, iters = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
def load(kind): return [json.load(open(f"{out}/{kind}-{r}.json")) for r in range(1, rounds + 1)]
off, alt, torch = load("off"), load("alt"), load("torch")
on = [a["on"] for a in alt]
def med(runs, key): return statistics.median(r[key] for r in runs)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"Machine: {os.cpu_count()} cores, {cpu}; threads {threads}, batch {batch}, {iters} timed iterations × {rounds} interleaved rounds\n")
print("| | iteration s | forward s | backward s | update s | peak RSS MiB |")
print("|---|---|---|---|---|---|")
for name, runs, rss in [("initdiag, probes off", off, off), ("initdiag, probes on (alternating run)", on, alt), ("PyTorch", torch, torch)]:
    print(f"| {name} | {med(runs,'iteration_s'):.3f} | {med(runs,'forward_s'):.3f} | {med(runs,'backward_s'):.3f} | {med(runs,'update_s'):.3f} | {max(r['peak_rss_bytes'] for r in rss)/2**20:.0f} |")
t = med(torch, "iteration_s")
overheads = [a["overhead"] for a in alt]
print(f"\nRatio initdiag (probes off) / PyTorch: {med(off,'iteration_s')/t:.2f}; probes on / PyTorch: {med(on,'iteration_s')/t:.2f}")
print(f"Probe overhead (alternating iterations in one process, median of paired differences): "
      + ", ".join(f"{100*o:.2f}%" for o in overheads) + f" per round; median {100*statistics.median(overheads):.2f}%")
print("\nPer layer (median of rounds, ms): initdiag probes off | PyTorch")
tl = {l["name"]: l for l in torch[0]["layers"]}
print("| layer | initdiag fwd | initdiag bwd | torch fwd | torch bwd |\n|---|---|---|---|---|")
for i, l in enumerate(off[0]["layers"]):
    f = statistics.median(r["layers"][i]["forward_s"] for r in off) * 1000
    b = statistics.median(r["layers"][i]["backward_s"] for r in off) * 1000
    tt = tl.get(l["name"])
    tf = f"{tt['forward_s']*1000:.1f}" if tt else "–"
    tb = f"{tt['backward_s']*1000:.1f}" if tt else "–"
    print(f"| {l['name']} | {f:.1f} | {b:.1f} | {tf} | {tb} |")
PY
