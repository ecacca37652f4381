#!/usr/bin/env bash
# Equal-CPU comparisons of training recipes: arms run side by side, one thread each, and are
# scored at equal CPU time (each run records its own: `cpu_hours` in stats.jsonl and in every
# snapshot), so arms that shared the machine unevenly are still compared fairly.
#
#   scripts/ab_equal_cpu.sh EXPERIMENT train OUTDIR  start the arms (background; logs in
#                                                    OUTDIR/ARM.log)
#   scripts/ab_equal_cpu.sh EXPERIMENT eval OUTDIR CPU_MIN [NUM]
#                                                    score each arm's snapshot nearest to CPU_MIN
#                                                    minutes of its own CPU time (patch FID + SWD,
#                                                    N = NUM, default 500)
#
# Experiments (everything not named is the bundled recipe, scripts/train_bundled_model.sh):
#   discriminator  (docs/bundled-model.md, "Discriminator A/B") from scratch on the 22-photo
#                  `landscapes-train`, scored against `landscapes`:
#                    sg2      the paper's StyleGAN2 discriminator (the recipe)
#                    proj128  projected discriminator, patches resized to 128 px for EfficientNet
#                    proj64   projected discriminator at 64 px
#   finetune       (docs/training.md, "Does fine-tuning pay?") on `landscapes-holdout`, the five
#                  photos the stage-1 model never saw (stage 2 did), scored against them:
#                    finetune `--init landscapes` (the shipped G, G_ema and D), EMA without ramp-up
#                    scratch  fresh networks of the same preset
#   vertical       (docs/bundled-model.md, "Vertical coverage A/B") continues the shipped
#                  `landscapes` (G, G_ema and D) on all photos, scored against them:
#                    bundled  the stage-3 recipe (--continue-bundled in train_bundled_model.sh)
#                    step06   the same with coords.vertical_step=0.6 instead of 0.3, so that
#                             the outermost training windows lie where tanh has saturated, as
#                             the rows of a tall canvas far from the horizon do
#   sky            (docs/bundled-model.md, "Open-sky A/B") continues the shipped `landscapes`
#                  (stage 4) as `vertical` does, scored against all photos:
#                    bundled  the stage-3 recipe on all 279 views
#                    sky      the same on `landscapes-sky`, the views whose top eighth is open
#                             sky (216 of 279), so the top rows never show canopy or rock
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
# shellcheck source=scripts/bundled_recipe.sh
source scripts/bundled_recipe.sh  # RECIPE and CONTINUE_BUNDLED

usage() {  # the comment block at the top of this file
    awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"
    exit 2
}

experiment="${1:-}"
case "$experiment" in
discriminator)
    ARMS=(sg2 proj128 proj64)
    TRAIN_DATA=landscapes-train
    EVAL_DATA=landscapes
    SEED=0
    ;;
finetune)
    ARMS=(finetune scratch)
    TRAIN_DATA=landscapes-holdout
    EVAL_DATA=landscapes-holdout
    SEED=0
    ;;
vertical)
    ARMS=(bundled step06)
    TRAIN_DATA=landscapes
    EVAL_DATA=landscapes
    SEED=2
    ;;
sky)
    ARMS=(bundled sky)
    TRAIN_DATA=landscapes
    EVAL_DATA=landscapes
    SEED=3
    ;;
*)
    usage
    ;;
esac

arm_data() {
    case "$1" in
        sky) echo "landscapes-sky" ;;
        *) echo "$TRAIN_DATA" ;;
    esac
}

arm_flags() {
    case "$1" in
        sg2 | scratch) echo "--preset landscapes-cpu" ;;
        proj128) echo "--preset landscapes-cpu --set discriminator.kind=projected --set discriminator.projected_size=128" ;;
        proj64) echo "--preset landscapes-cpu --set discriminator.kind=projected --set discriminator.projected_size=64" ;;
        finetune) echo "--init landscapes --set train.ema_rampup=none" ;;
        bundled) echo "${CONTINUE_BUNDLED[*]}" ;;
        step06) echo "$(arm_flags bundled) --set coords.vertical_step=0.6" ;;
        sky) arm_flags bundled ;;
    esac
}

case "${2:-}" in
train)
    out="${3:?give the output folder}"
    mkdir -p "$out"
    for arm in "${ARMS[@]}"; do
        # shellcheck disable=SC2046
        OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nohup "$BIN/infinitygan" train \
            --data "$(arm_data "$arm")" "${RECIPE[@]}" --steps 200000 --seed "$SEED" $(arm_flags "$arm") \
            --tick-every 20 --snapshot-every 250 \
            --keep 200 --outdir "$out/$arm" > "$out/$arm.log" 2>&1 &
    done
    echo "started ${ARMS[*]} in $out (stop them with: pkill -f 'train --data $TRAIN_DATA')"
    ;;
eval)
    out="${3:?give the output folder}"
    minutes="${4:?give the CPU minutes}"
    num="${5:-500}"
    for arm in "${ARMS[@]}"; do
        snap=$("$BIN/python" - "$out/$arm" "$minutes" <<'PY'
import json
import sys
from pathlib import Path

from infinitygan.checkpoint import read_metadata
from infinitygan.train.snapshots import G_EMA_FILE, list_snapshots

(run,) = [p for p in Path(sys.argv[1]).iterdir() if p.is_dir()]
target = float(sys.argv[2]) / 60
best = min(
    list_snapshots(run),
    key=lambda s: abs(json.loads(read_metadata(s.path / G_EMA_FILE)["extra"])["cpu_hours"] - target),
)
print(best.path / G_EMA_FILE)
PY
)
        OMP_NUM_THREADS=1 "$BIN/infinitygan" eval "$snap" --data "$EVAL_DATA" \
            --metrics patch-fid,swd --num "$num" --device cpu --out "$out/eval-$arm-${minutes}min" \
            --label "$experiment/$arm at $minutes CPU minutes: $snap"
    done
    ;;
*)
    usage
    ;;
esac
