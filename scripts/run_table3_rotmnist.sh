#!/usr/bin/env bash
# RepeatNet Table 3 on real data, CPU, one thread: rot-MNIST built from the offline MNIST copy
# (dataset.variant=rotated: 12,000 train / 50,000 test images, each rotated once by a seeded uniform angle;
# the official mnist_rotation_new zip is not available offline), rows vanilla CNN, RE-CNN C4, RepeatNet C4,
# with the authors' protocol at EPOCHS of the paper's 30 (budget=short: the lr decay start scales with them).
#
#   EPOCHS=6 nohup scripts/run_table3_rotmnist.sh > /tmp/table3_rotmnist.log 2>&1 &
#
# Measured at one thread (2-core dev machine, batch 64, every epoch tested on all 50,000 test images, which
# is about two thirds of the time): vanilla CNN 116 s, RE-CNN C4 378 s, RepeatNet C4 381 s per epoch, so
# 875 s per epoch of all three rows: EPOCHS=5 takes about 74 min, EPOCHS=4 about 59 min.
# Each row records into results/runs/curated/repeatnet_table3_rotmnist/<row>/ and checkpoints every epoch.
# Rerunning the same command resumes an interrupted row and skips finished ones (a different EPOCHS is
# refused for a row already started: its run dir keeps the config it began with). ROWS picks rows.
set -euo pipefail
cd "$(dirname "$0")/.."

EPOCHS=${EPOCHS:?set EPOCHS, the number of epochs per row (the paper: 30)}
ROWS=${ROWS:-"vanilla_cnn re_cnn_c4 repeatnet_c4"}
PY=${PY:-.venv/bin/python}
OUT=results/runs/curated/repeatnet_table3_rotmnist
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

[ -f data/MNIST/raw/train-images-idx3-ubyte ] || "$PY" ../shared/tools/unpack_data.py mnist data
mkdir -p "$OUT"
printf '*/checkpoints/\n*/wandb/\n' > "$OUT/.gitignore"   # curated records keep no checkpoints
scale=$("$PY" -c "print(f'{$EPOCHS / 30:.6g}')")

for row in $ROWS; do
    echo "== $row ($EPOCHS epochs, budget.epoch_scale=$scale) $(date -Is)"
    "$PY" -m repeatnet_repro.train experiment=repeatnet/table3 "row=repeatnet/table3/$row" \
        dataset.variant=rotated budget=short "budget.epoch_scale=$scale" \
        trainer.device=cpu trainer.checkpoint_every=1 trainer.progress=false logger=none \
        "hydra.run.dir=$OUT/$row"
done
echo "== done $(date -Is)"
