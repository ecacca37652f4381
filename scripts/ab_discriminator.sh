#!/usr/bin/env bash
# Equal-CPU A/B of the bundled model's discriminator (docs/bundled-model.md, "Discriminator A/B").
#
#   scripts/ab_discriminator.sh train OUTDIR        start the three arms side by side, one thread
#                                                   each (background; logs in OUTDIR/ARM.log)
#   scripts/ab_discriminator.sh eval OUTDIR CPU_MIN [NUM]
#                                                   score each arm's snapshot nearest to CPU_MIN
#                                                   minutes of its own CPU time (patch FID + SWD,
#                                                   N = NUM, default 500, against `landscapes`)
#
# Arms (everything else is the bundled recipe, scripts/train_bundled_model.sh, on the 22-photo
# `landscapes-train` set):
#   sg2      the paper's StyleGAN2 discriminator (the recipe before this A/B)
#   proj128  projected discriminator, patches resized to 128 px before EfficientNet-Lite0
#   proj64   projected discriminator at 64 px
# Runs record their CPU time (`cpu_hours` in stats.jsonl and in every snapshot), so arms that
# shared the machine unevenly are still compared at equal CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
ARMS=(sg2 proj128 proj64)

arm_flags() {
    case "$1" in
        sg2) ;;
        proj128) echo "--set discriminator.kind=projected --set discriminator.projected_size=128" ;;
        proj64) echo "--set discriminator.kind=projected --set discriminator.projected_size=64" ;;
    esac
}

case "${1:-}" in
train)
    out="${2:?give the output folder}"
    mkdir -p "$out"
    for arm in "${ARMS[@]}"; do
        # shellcheck disable=SC2046
        OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 nohup "$BIN/infinitygan" train \
            --data landscapes-train --preset landscapes-cpu --batch 4 --steps 200000 --seed 0 \
            --set train.pl_weight=0 --set train.r1_gamma=1 --set train.diversity_weight=0.1 \
            --set train.augment=color,translation,cutout $(arm_flags "$arm") \
            --device cpu --precision fp32 --workers 0 --tick-every 20 --snapshot-every 250 \
            --keep 200 --outdir "$out/$arm" > "$out/$arm.log" 2>&1 &
    done
    echo "started ${ARMS[*]} in $out (stop them with: pkill -f 'train --data landscapes-train')"
    ;;
eval)
    out="${2:?give the output folder}"
    minutes="${3:?give the CPU minutes}"
    num="${4:-500}"
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
        OMP_NUM_THREADS=1 "$BIN/infinitygan" eval "$snap" --data landscapes \
            --metrics patch-fid,swd --num "$num" --device cpu --out "$out/eval-$arm-${minutes}min" \
            --label "$arm at $minutes CPU minutes: $snap"
    done
    ;;
*)
    sed -n '2,16p' "$0"
    exit 2
    ;;
esac
