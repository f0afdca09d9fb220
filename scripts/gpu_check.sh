#!/usr/bin/env bash
# The prepared device check (README, "Speed"): about 5 minutes on one H100/H200, everything under $OUT.
#   1. scripts/gpu_check.py: WRN-28-10 CIFAR-10 epoch time on CIFAR-shaped synthetic data (bf16 eager, fp32,
#      compiled; and on the real copy when carried), achieved TFLOP/s and % of bf16 peak from counted FLOPs,
#      compile vs eager, a 2-epoch real CIFAR-10 accuracy sanity check -> $OUT/gpu_<gpu>.json/.md
#   2. scripts/benchmark_train.py: ours / reference-style loop on WRN-28-10 -> $OUT/train_cuda.json/.md
#   3. scripts/benchmark_sharing.py: soft / none and repeat / none step time, WRN-28-10 pair included
#      -> $OUT/sharing_cuda.json/.md
# Commit the three records under results/benchmarks/ (`make experiments` then calibrates from gpu_*.json).
#
#   OUT=/tmp/gpu bash scripts/gpu_check.sh            # on the GPU machine (the device tool sets $OUT)
#   OUT=/tmp/dry bash scripts/gpu_check.sh --cpu      # dry run on CPU: tiny sizes, about a minute
# The real copy is read from $CIFAR_NPZ, else data/cifar10-jpeg.npz or ../shared/data/cifar10-jpeg.npz.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${OUT:?set OUT, the folder the results go to}"
mkdir -p "$OUT"
PY=${PY:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
NPZ=${CIFAR_NPZ:-}
if [ -z "$NPZ" ]; then
    for candidate in data/cifar10-jpeg.npz ../shared/data/cifar10-jpeg.npz; do
        if [ -f "$candidate" ]; then NPZ=$candidate; break; fi
    done
fi
npz_arg=()
if [ -n "$NPZ" ] && [ -f "$NPZ" ]; then npz_arg=(--npz "$NPZ"); fi

if [ "${1:-}" = "--cpu" ]; then
    "$PY" scripts/gpu_check.py --cpu --out "$OUT" "${npz_arg[@]}"
    "$PY" scripts/benchmark_train.py --models wrn10_1 --batch 8 --steps 1 --reps 5 --images 64 --levers --threads 1 \
        --out "$OUT"
    "$PY" scripts/benchmark_sharing.py --batch 2 --reps 5 --warmup 1 --threads 1 --out "$OUT"
    exit 0
fi
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv || true
"$PY" scripts/gpu_check.py --out "$OUT" "${npz_arg[@]}"
"$PY" scripts/benchmark_train.py --device cuda --models wrn28_10 --batch 128 --steps 30 --reps 5 --workers 8 \
    --images 20000 --out "$OUT"
"$PY" scripts/benchmark_sharing.py --device cuda --batch 128 --reps 7 --steps 5 --wide --out "$OUT"
