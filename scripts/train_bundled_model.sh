#!/usr/bin/env bash
# Train the bundled "landscapes" model (src/infinitygan/assets/models/landscapes.safetensors).
#
# Usage:  scripts/train_bundled_model.sh [OUTDIR]        (default OUTDIR: runs)
#         scripts/train_bundled_model.sh --export RUN_DIR [STEP]
#             (write the bundled file from the run's latest snapshot, or from the one at STEP,
#             and its discriminator, for `infinitygan train --init landscapes`, to
#             src/infinitygan/assets/models/discriminators/landscapes.safetensors; both float16)
#
# The shipped file was made in two stages (docs/bundled-model.md, "How it was trained"):
#  1. From scratch, on the 13 photos the package shipped then (35 views), 15,500 steps = 62 kimg,
#     over two sessions on the project's 2-vCPU machine (AMD EPYC, no GPU, torch 2.13.0+cpu):
#     the command below with --data landscapes (then 13 photos), --seed 0 and no --init, resumed
#     to two threads; that model is in git history (the landscapes.safetensors of commit c712fc3).
#  2. Fine-tuned from it (`--init`) on `landscapes-train` (22 of today's 27 photos; the five
#     HELD_OUT photos stay out), with a fresh StyleGAN2 discriminator (stage 1's was not kept):
#     what this script runs. INIT is the starting model (default: stage 1's file, taken from git);
#     STEPS the fine-tuning steps (the shipped file: see its metadata, `read_metadata`).
# One step is one batch of 4 patches; STEPS steps = STEPS * 4 / 1000 kimg. The path-length
# regulariser is off (train.pl_weight=0): it cost ~20% of the step time and matters little this
# early; R1 gamma 1 suits 53-px patches; the diversity loss weight is 0.1. DiffAugment
# (color, translation, cutout) on every discriminator input: with few training views the
# discriminator otherwise memorises the reals (a run without it reached patch FID 283 vs the
# untrained 378 at N=100 after 18 kimg). The discriminator kind was chosen by an equal-CPU A/B
# (scripts/ab_discriminator.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
SEED=1
STEPS="${STEPS:-6000}"
STAGE1_COMMIT=c712fc3

if [[ "${1:-}" == "--export" ]]; then
    run_dir="${2:?give the run folder}"
    "$BIN/python" - "$run_dir" "${3:-}" <<'PY'
import json
import sys
from pathlib import Path

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
options = json.loads((run_dir / "training_options.json").read_text())
if options.get("init"):  # fine-tuned: keep the starting model's own history
    init = options["init"]
    start = Path(init["generator"])
    extra["init"] = {"model": init["model"], "sha256": init.get("generator_sha256")}
    if start.is_file():
        meta = read_metadata(start)
        extra["init"]["metadata"] = json.loads(meta.get("extra", "{}"))
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
    cpu_hours=round(records[-1].get("cpu_hours", float("nan")), 2) if records else None,
)
out = Path("src/infinitygan/assets/models/landscapes.safetensors")
out.parent.mkdir(parents=True, exist_ok=True)
save_generator(G, out, half=True, extra=extra)
out.chmod(0o644)
print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB) from {source}:")
print(json.dumps(extra, indent=2))
# The discriminator trained with it, where `--init landscapes` looks for it.
d_source = snap.path / D_FILE
d_out = out.parent / discriminator_file_for(BUNDLED_DIR / out.name).relative_to(BUNDLED_DIR)
d_extra = {k: extra[k] for k in ("source", "run", "snapshot", "step", "kimg") if k in extra}
save_discriminator(load_discriminator(d_source), d_out, half=True, extra=d_extra)
d_out.chmod(0o644)
print(f"wrote {d_out} ({d_out.stat().st_size / 1e6:.2f} MB) from {d_source}")
PY
    exit 0
fi

OUTDIR="${1:-runs}"
INIT="${INIT:-}"
if [[ -z "$INIT" ]]; then  # stage 1's model, from git history
    INIT="$OUTDIR/landscapes-stage1.safetensors"
    mkdir -p "$OUTDIR"
    git show "$STAGE1_COMMIT:src/infinitygan/assets/models/landscapes.safetensors" > "$INIT"
fi
# Two threads when alone on 2 cores; on a shared machine one thread per process is faster.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$BIN/infinitygan" train \
    --data landscapes-train \
    --init "$INIT" \
    --batch 4 \
    --steps "$STEPS" \
    --seed "$SEED" \
    --set train.pl_weight=0 \
    --set train.r1_gamma=1 \
    --set train.diversity_weight=0.1 \
    --set train.augment=color,translation,cutout \
    --device cpu \
    --precision fp32 \
    --workers 0 \
    --tick-every 20 \
    --snapshot-every 250 \
    --keep 200 \
    --outdir "$OUTDIR"
