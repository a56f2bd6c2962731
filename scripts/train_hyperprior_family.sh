#!/usr/bin/env bash
# Trains the mean-scale hyperprior family on two CPU cores (README, "Training the
# hyperprior"). Resumable: rerun the same command and every run continues from its
# latest checkpoint; finished runs only re-export.
#
#   scripts/train_hyperprior_family.sh CKPT_ROOT EXPORT_DIR [TRAIN_GLOB]
#
# Phase 1: one base model per training mode (UN, and UN+UQ+SR+E) at lambda 0.013 for
#   BASE_STEPS, the two runs side by side with one thread each (1.25x the throughput
#   of one two-thread run), learning rate 5e-4, 300 density-only steps, alpha 1 -> 12.
#   A larger BASE_STEPS continues the bases (the alpha schedule stretches to the new
#   length).
# Phase 2: from each base, a run of TUNE_STEPS per lambda in LAMBDAS (learning rate
#   2e-4, x0.1 after 70%, alpha 12 -> 16), the two modes in two lanes side by side;
#   each exports its SavedModels to EXPORT_DIR as hyperprior-<lambda>-<mode>. Its
#   checkpoints go to CKPT_ROOT/<mode>-<lambda>-b<BASE_STEPS>, so a longer base gets
#   fresh fine-tunes.
set -euo pipefail
root=${1:?checkpoint root}; export_dir=${2:?export dir}
glob=${3:-../shared/data/train}
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
N=${NUM_FILTERS:-64}; M=${NUM_LATENTS:-96}
BASE_STEPS=${BASE_STEPS:-5000}; TUNE_STEPS=${TUNE_STEPS:-1200}
LAMBDAS=${LAMBDAS:-0.0035 0.0067 0.013 0.025}
MODES=${MODES:-un sr}
common=(--model=hyperprior --num_filters="$N" --num_latents="$M" --train_glob="$glob"
        --threads=1 --log_every=200 --checkpoint_every=500)

mode_flag() {
  case $1 in
    un) echo "--mode=UN" ;;
    sr) echo "--mode=UN+UQ+SR+E" ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
  esac
}

base() {
  local m=$1
  $py scripts/train.py "${common[@]}" "$(mode_flag "$m")" --lmbda=0.013 \
    --num_steps="$BASE_STEPS" --warmup_steps=300 --learning_rate=5e-4 \
    --density_learning_rate=1e-3 --lr_decay_at=1.0 --alpha_start=1 --alpha_end=12 \
    --checkpoint_dir="$root/base-$m" >> "$root/base-$m.log" 2>&1
}

lane() {
  local m=$1 l
  for l in $LAMBDAS; do
    $py scripts/train.py "${common[@]}" "$(mode_flag "$m")" --lmbda="$l" \
      --num_steps="$TUNE_STEPS" --learning_rate=2e-4 --lr_decay_at=0.7 \
      --alpha_start=12 --alpha_end=16 --init_from="$root/base-$m" \
      --checkpoint_dir="$root/$m-$l-b$BASE_STEPS" --export_dir="$export_dir" \
      --name="hyperprior-$l" >> "$root/$m-$l-b$BASE_STEPS.log" 2>&1
  done
}

mkdir -p "$root" "$export_dir"
for m in $MODES; do base "$m" & done; wait
for m in $MODES; do lane "$m" & done; wait
