#!/usr/bin/env bash
# The GPU evidence (issue #23) on one H100/H200 in about ten minutes: every RepeatNet Table 3 row and soft sharing
# Fig. 5 at the papers' budgets, the cross-scheme benchmark (compare/resnet_cifar, 14 runs) at its 30-epoch
# protocol on all 50,000 CIFAR-10 images; 8 runs at a time on the one GPU (scripts/evidence.py --gpu).
#   scripts/gpu_evidence.sh [OUT]          # records under OUT (default $OUT, else results/runs/gpu_evidence)
#   scripts/gpu_evidence.sh --cpu [OUT]    # the same commands as smoke runs on stand-in data, on the CPU (tests)
# Rerunning the same command resumes what was stopped. Data: REPEATNET_DATA (default data/) with MNIST/raw and
# cifar10/{train,test}, unpacked from ../shared/data when it is beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$(command -v .venv/bin/python || command -v python3)}
tiny=()
if [ "${1:-}" = "--cpu" ]; then tiny=(--tiny); shift; fi
out=${1:-${OUT:-results/runs/gpu_evidence}}
"$PY" scripts/evidence.py run --gpu "${tiny[@]}" --out "$out"
"$PY" scripts/evidence.py status --gpu "${tiny[@]}" --out "$out"
