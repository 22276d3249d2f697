#!/usr/bin/env bash
# The main job: sweep the bundled seed network (VGG19 for CIFAR-10, every filler xavier) over the
# default initialisation schemes on the embedded synthetic data, then print where the report is.
# Pass extra sweep flags after the script name, e.g. `bash scripts/demo.sh --data cifar10:DIR`.
# The output folder holds one experiment: with other flags than its sweep's, the sweep refuses it
# (naming what differs); give INITDIAG_DEMO_OUT=another-folder, or --force to start afresh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product initdiag
out=${INITDIAG_DEMO_OUT:-sweep-out}
.build/release/initdiag sweep --solver Fixtures/seed/solver.prototxt --data synthetic \
  --batch-size 16 --iterations 150 --test-iter 8 --out "$out" "$@"
echo
echo "Report: $out/README.md"
