# The bundled model's training recipe, in one place: sourced by scripts/train_bundled_model.sh
# and scripts/ab_equal_cpu.sh (why each setting: the comments in train_bundled_model.sh).
# shellcheck shell=bash disable=SC2034

# Every stage: batch 4 patches, no path-length regulariser, R1 gamma 1, a small diversity loss,
# DiffAugment on every discriminator input; fp32 on the CPU. (--data is the caller's.)
RECIPE=(
    --batch 4
    --set train.pl_weight=0 --set train.r1_gamma=1 --set train.diversity_weight=0.1
    --set train.augment=color,translation,cutout
    --device cpu --precision fp32 --workers 0
)

# Stage 3 (--continue-bundled): from the shipped landscapes and its discriminator. G and G_ema
# both start from the EMA weights; fresh Adam moments, so D trains alone for the first 1 kimg
# to rebuild its own; the EMA keeps its full half-life from step 0.
CONTINUE_BUNDLED=(
    --init landscapes --set train.d_warmup_kimg=1 --set train.ema_rampup=none --channels-last
)
