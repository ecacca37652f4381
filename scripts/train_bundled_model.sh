#!/usr/bin/env bash
# Train the bundled "landscapes" model (src/infinitygan/assets/models/landscapes.safetensors).
#
# Usage:  scripts/train_bundled_model.sh [OUTDIR]        (stage 1, from scratch; default OUTDIR: runs)
#         scripts/train_bundled_model.sh --continue OUTDIR GENERATOR_FILE
#             (stage 2: continue stage 1's exported file; see below)
#         scripts/train_bundled_model.sh --continue-bundled OUTDIR
#             (stage 3: continue the bundled landscapes with its shipped discriminator)
#         scripts/train_bundled_model.sh --export RUN_DIR [STEP]
#             (write the bundled file from the run's latest snapshot, or from the one at STEP,
#             and its discriminator, for `infinitygan train --init landscapes`, to
#             src/infinitygan/assets/models/discriminators/landscapes.safetensors; both float16)
#         scripts/train_bundled_model.sh --export-discriminator RUN_DIR STEP
#             (only the discriminator, from a snapshot whose generator is the bundled one, e.g.
#             the end of a --continue run's discriminator warm-up; checked weight for weight)
#
# What was run for stage 1 (see docs/bundled-model.md; the shipped file is stage 4, the same
# recipe as stage 3, --continue-bundled below, run as the `bundled` arm of
# `scripts/ab_equal_cpu.sh vertical` on one thread and exported at its step 18500; stage 3
# continued stage 2, --continue, itself started from stage 1's export): this script with
# STEPS=10000 on
# the project's 2-vCPU machine (AMD EPYC, no GPU, torch 2.13.0+cpu; one thread for steps 0-4000,
# then two: OMP_NUM_THREADS=2 infinitygan train --resume RUN_DIR at steps 4000 and 5000), shared
# with other jobs; then, in a later session, `infinitygan train --resume RUN_DIR --steps 20000`
# (two threads) stopped after the step-15500 snapshot, which was exported. The learning rate and
# the EMA do not depend on the total step count, so STEPS=15500 below runs the same recipe in one
# go. One step is one batch of 4 patches; STEPS steps = STEPS * 4 / 1000 kimg. The path-length
# regulariser is off (train.pl_weight=0): it cost ~20% of the step time and matters little this
# early; R1 gamma 1 suits 53-px patches; the diversity loss weight is 0.1. DiffAugment
# (color, translation, cutout) on every discriminator input: with 35 training views the
# discriminator otherwise memorises the reals (a run without it reached patch FID 283 vs the
# untrained 378 at N=100 after 18 kimg).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
SEED=0
STEPS=15500
# shellcheck source=scripts/bundled_recipe.sh
source scripts/bundled_recipe.sh  # RECIPE (every stage) and CONTINUE_BUNDLED (stage 3)

if [[ "${1:-}" == "--export" || "${1:-}" == "--export-discriminator" ]]; then
    run_dir="${2:?give the run folder}"
    "$BIN/python" - "$run_dir" "${3:-}" "$1" <<'PY'
import json
import sys
from pathlib import Path

import torch

from infinitygan.checkpoint import BUNDLED_DIR, load_generator, read_metadata, save_generator
from infinitygan.train.init import discriminator_file_for
from infinitygan.train.snapshots import (
    D_FILE,
    G_EMA_FILE,
    latest_snapshot,
    list_snapshots,
    load_discriminator,
    save_discriminator,
)

run_dir = Path(sys.argv[1])
wanted = int(sys.argv[2]) if sys.argv[2] else None
snaps = list_snapshots(run_dir)
snap = latest_snapshot(run_dir) if wanted is None else next(
    (s for s in snaps if s.step == wanted), None
)
if snap is None:
    raise SystemExit(f"{run_dir} has no complete snapshot" + (f" at step {wanted}" if wanted else ""))
source = snap.path / G_EMA_FILE
G = load_generator(source)
d_only = sys.argv[3] == "--export-discriminator"
if d_only:  # the snapshot's generator must be the bundled one, weight for weight
    bundled = load_generator("landscapes").state_dict()
    same = all(
        torch.equal(value, bundled[key].to(value.dtype))
        for key, value in G.state_dict().items()
        if key != "w_avg"  # the bundled file has none: estimated at load
    )
    if not same:
        raise SystemExit(f"{source} is not the bundled generator: export both with --export")
extra = json.loads(read_metadata(source)["extra"])
env = json.loads((run_dir / "environment.json").read_text())
sessions = env.get("earlier_sessions", []) + [env]  # the session that started the run first
records = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
records = [r for r in records if r["step"] <= snap.step]
train_seconds, previous = 0.0, 0
for r in records:  # time spent in steps (snapshots and sample grids excluded)
    train_seconds += r["sec_per_step"] * (r["step"] - previous)
    previous = r["step"]
cpu = "unknown"
for line in Path("/proc/cpuinfo").read_text().splitlines():
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
extra.update(
    source="scripts/train_bundled_model.sh",
    run=run_dir.name,
    snapshot=snap.path.name,
    command=" ".join(["infinitygan"] + sessions[0]["argv"][1:]),
    resumed_at_steps=[s.get("start_step") for s in sessions[1:]],
    resume_commands=[" ".join(["infinitygan"] + s["argv"][1:]) for s in sessions[1:]],
    git_sha=[s.get("git_sha") for s in sessions],  # per session, the first one first
    torch=env.get("torch"),
    torch_threads=[s.get("torch_threads") for s in sessions],
    machine=f"{cpu}, {env.get('cpu_count')} cores, no GPU",
    train_hours=round(train_seconds / 3600, 2),
)
options = json.loads((run_dir / "training_options.json").read_text())
if options.get("init"):  # a continued run: keep the lineage (read before the file is replaced)
    init = options["init"]
    extra["init"] = {"model": init["model"], "generator_sha256": init["generator_sha256"]}
    try:
        extra["init_metadata"] = json.loads(read_metadata(init["generator"]).get("extra", "{}"))
    except Exception as err:  # the source file is gone: its hash above still names it
        print(f"note: the run's source {init['generator']} is not readable ({err})")
out = Path("src/infinitygan/assets/models/landscapes.safetensors")
out.parent.mkdir(parents=True, exist_ok=True)
if not d_only:
    save_generator(G, out, half=True, extra=extra)
    out.chmod(0o644)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {source}:")
    print(json.dumps(extra, indent=2))
# The discriminator trained with it, where `--init landscapes` looks for it.
d_source = snap.path / D_FILE
d_out = out.parent / discriminator_file_for(BUNDLED_DIR / out.name).relative_to(BUNDLED_DIR)
d_extra = {
    k: extra[k]
    for k in ("source", "run", "snapshot", "step", "kimg", "cpu_hours", "command", "machine")
    if k in extra
}
if d_only:
    d_extra["trained_against"] = "the bundled generator, frozen (train.d_warmup_kimg)"
save_discriminator(load_discriminator(d_source), d_out, half=True, extra=d_extra)
d_out.chmod(0o644)
print(f"wrote {d_out} ({d_out.stat().st_size / 1e6:.2f} MB) from {d_source}")
PY
    exit 0
fi

if [[ "${1:-}" == "--continue" ]]; then
    # Stage 2: continue a generator file (stage 1's, which has no discriminator file) on all
    # the bundled photos, with a fresh discriminator trained alone for the first 16 kimg
    # (train.d_warmup_kimg) and the EMA kept from the start (no ramp-up). Two threads. Stage 3
    # started from this run's last snapshot (step 40000, exported with --export RUN_DIR
    # 40000); the run was resumed with `infinitygan train --resume RUN_DIR` across sessions.
    outdir="${2:?give the output folder}"
    init="${3:?give the generator file to continue (stage 1: see docs/bundled-model.md)}"
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
    exec "$BIN/infinitygan" train --data landscapes "${RECIPE[@]}" --init "$init" \
        --steps 40000 --seed 1 \
        --set train.d_warmup_kimg=16 --set train.ema_rampup=none --channels-last \
        --tick-every 50 --snapshot-every 500 --keep 80 --outdir "$outdir"
fi

if [[ "${1:-}" == "--continue-bundled" ]]; then
    # Stage 3: continue the bundled file with its shipped discriminator (run when that was stage
    # 2's step 40000; run today, it continues whatever ships). Stage 3 was this run's step 25000
    # (--export RUN_DIR 25000; stopped at step 29300); stage 4, which ships, continued it with
    # the same flags (CONTINUE_BUNDLED in bundled_recipe.sh). Same recipe, another data seed.
    outdir="${2:?give the output folder}"
    export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
    exec "$BIN/infinitygan" train --data landscapes "${RECIPE[@]}" "${CONTINUE_BUNDLED[@]}" \
        --steps 30000 --seed 2 --tick-every 50 --snapshot-every 500 --keep 80 --outdir "$outdir"
fi

OUTDIR="${1:-runs}"
# One thread: on a shared 2-core machine two OpenMP threads per process stall on each other
# (measured 22x slower steps while another job ran); override with OMP_NUM_THREADS=2 when alone.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec "$BIN/infinitygan" train \
    --data landscapes "${RECIPE[@]}" \
    --preset landscapes-cpu \
    --steps "$STEPS" \
    --seed "$SEED" \
    --tick-every 10 \
    --snapshot-every 500 \
    --keep 40 \
    --outdir "$OUTDIR"
