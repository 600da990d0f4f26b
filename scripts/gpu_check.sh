#!/usr/bin/env bash
# The GPU measurement, in a few minutes: `make bench` on the card, then ResNet-20 for 3,000 steps
# in bf16 and in fp32 (two seeds each) to show bf16 leaves the error within seed noise.
# Installs nothing heavy: it uses .venv if present, else the python3 on PATH (which must have the
# project's dependencies). CIFAR-10 from DATA_DIR (default data/); without it the comparison is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
DATA_DIR=${DATA_DIR:-data}
OUT=${OUT:-gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -m study.bench --data-dir "$DATA_DIR" | tee "$OUT/bench.txt"
# any layout the loader reads (pickles, binary, image folders), as study.train would find it
if "$PY" -c "import sys; from pathlib import Path; from study.data.cifar import find_cifar_layout as f
sys.exit(f(Path(sys.argv[1])) is None)" "$DATA_DIR"; then
  for precision in bf16-mixed 32-true; do
    "$PY" -m study.train -m model.depth=20 seed=0,1 trainer.max_steps=3000 "optim.milestones=[1500,2250]" \
      eval_every=500 data.root="$DATA_DIR" data.download=false trainer.precision=$precision \
      trainer.enable_progress_bar=false runs_root="$OUT/runs-$precision" experiment_name=precision-$precision
  done
  for summary in "$OUT"/runs-*/*/*/*/summary.json; do
    "$PY" - "$summary" <<'PYEOF'
import json, sys
s = json.load(open(sys.argv[1]))
print(f"{s['config']['trainer']['precision']} seed {s['seed']}: test error {s['final_test_error']:.2f}%, "
      f"train error {s['final_train_error']:.2f}%, {s['wall_time_s']:.0f} s")
PYEOF
  done | tee "$OUT/precision.txt"
else
  echo "no CIFAR-10 under $DATA_DIR: bf16-vs-fp32 comparison skipped" | tee "$OUT/precision.txt"
fi
