#!/usr/bin/env bash
# The cross-scheme benchmark (experiment=compare/<backbone>) on the real CIFAR-10 copy, CPU, one thread:
# backbones resnet_cifar, wrn, vggnet x rows none / hard / soft / repeat at the unshared model's |W| and, apart,
# at its MACs (7 rows, each width found by matched budgets) x seeds 0 1 = 42 runs, one after the other.
# Data: ../shared/data/cifar10-jpeg.npz unpacked to data/cifar10/{train,test}/<class>/ (dataset.format=folder).
# Budget (budget.name=cpu): EPOCHS epochs of the presets' 30-epoch protocol (the lr milestones scale with them),
# each epoch TRAIN_BATCHES random batches of 128 training images (budget.max_train_batches), every epoch tested
# on the whole 10,000-image test set (EVAL_BATCHES caps it to a fixed class-balanced subset).
#
#   nohup scripts/run_compare_cifar10.sh > /tmp/compare_cifar10.log 2>&1 &
#
# Measured at one thread on the 2-core dev machine while other jobs ran (load ~4, so pessimistic), 2026-12-02:
# one epoch of 30 batches + the full test set, seconds training / testing / whole process (start-up, data,
# matching included), per row none hard_params soft_params repeat_params hard_macs soft_macs repeat_macs:
#   resnet_cifar  6.8/4.9/21  21.3/15.6/45  17.4/9.8/38  19.7/11.7/39  4.0/2.8/12  6.4/4.5/17  10.4/6.7/29
#   vggnet        5.7/3.6/20  16.8/10.8/39  12.6/6.5/31  16.0/11.7/37  4.3/3.3/18  4.8/3.3/18   5.2/2.9/16
# so at the defaults (EPOCHS=4, TRAIN_BATCHES=100: 51,200 training images per run) a run takes 70-355 s and
# the 28 runs about 5,100 s (1.4 h). The slowest run, resnet_cifar hard_params seed 0 at the defaults, took
# 667 s measured while tests ran beside it (78-127 img/s; 355 s estimated from 180 img/s): test acc 45.5 %.
# Each run records into results/runs/curated/compare_cifar10/<backbone>/<row>_seed<seed>/ and checkpoints
# every epoch. Rerunning the same command resumes an interrupted run and skips finished ones (another budget
# is refused for a run already started: its run dir keeps the config it began with). BACKBONES, ROWS and SEEDS
# pick runs, OUT another folder, e.g. a smoke of one tiny run:
#   OUT=/tmp/compare_smoke BACKBONES=resnet_cifar ROWS=hard_params SEEDS=0 EPOCHS=1 TRAIN_BATCHES=2 EVAL_BATCHES=2 \
#       scripts/run_compare_cifar10.sh
# Then: python -m repeatnet_repro.report all --runs results/runs/curated/compare_cifar10
set -euo pipefail
cd "$(dirname "$0")/.."

EPOCHS=${EPOCHS:-4}
TRAIN_BATCHES=${TRAIN_BATCHES:-100}
EVAL_BATCHES=${EVAL_BATCHES:-}
BACKBONES=${BACKBONES:-"resnet_cifar wrn vggnet"}
ROWS=${ROWS:-"none hard_params soft_params repeat_params hard_macs soft_macs repeat_macs"}
SEEDS=${SEEDS:-"0 1"}
PY=${PY:-.venv/bin/python}
OUT=${OUT:-results/runs/curated/compare_cifar10}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

[ -d data/cifar10/train ] || "$PY" ../shared/tools/unpack_data.py cifar10 data
mkdir -p "$OUT"
printf '*/*/checkpoints/\n*/*/wandb/\n' > "$OUT/.gitignore"   # curated records keep no checkpoints
scale=$("$PY" -c "print(f'{$EPOCHS / 30:.6g}')")
eval_cap=()
[ -z "$EVAL_BATCHES" ] || eval_cap=("budget.max_eval_batches=$EVAL_BATCHES")

for backbone in $BACKBONES; do
    for row in $ROWS; do
        for seed in $SEEDS; do
            echo "== $backbone/$row seed $seed ($EPOCHS epochs x $TRAIN_BATCHES batches) $(date -Is)"
            "$PY" -m repeatnet_repro.train "experiment=compare/$backbone" "row=compare/$row" "seed=$seed" \
                dataset.format=folder budget=short budget.name=cpu "budget.epoch_scale=$scale" \
                "budget.max_train_batches=$TRAIN_BATCHES" "${eval_cap[@]}" \
                trainer.device=cpu trainer.checkpoint_every=1 trainer.progress=false logger=none \
                "hydra.run.dir=$OUT/$backbone/${row}_seed$seed"
        done
    done
done
echo "== done $(date -Is)"
