#!/usr/bin/env bash
# Trains the mean-scale hyperprior family on two CPU cores (README, "Training the
# hyperprior"). Resumable: rerun the same command and every run continues from its
# latest checkpoint; finished runs only re-export.
#
#   scripts/train_hyperprior_family.sh CKPT_ROOT EXPORT_DIR [TRAIN_GLOB]
#
# Phase 1: base models at lambda 0.013 for BASE_STEPS, learning rate 5e-4, 300
#   density-only steps. BASES (default "un") names them: "un" trains with uniform
#   noise; "sr" with soft rounding and expected gradients (UN+UQ+SR+E), alpha 1 -> 12.
#   One base uses both cores; two run side by side with one thread each (1.25x the
#   throughput of one two-thread run). A larger BASE_STEPS continues the bases (the
#   alpha schedule stretches to the new length).
# Phase 2: a run of TUNE_STEPS per lambda in LAMBDAS and per mode in MODES (learning
#   rate 2e-4, x0.1 after 70%), the modes in lanes side by side. A mode starts from its
#   own base if BASES has it, else from the "un" base; a soft-rounding mode that starts
#   from the "un" base anneals alpha 1 -> 16 in its fine-tune, else 12 -> 16. Each run
#   exports its SavedModels to EXPORT_DIR as hyperprior-<lambda>-<mode>; its
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
MODES=${MODES:-un sr}; BASES=${BASES:-un}
read -ra base_list <<< "$BASES"; read -ra mode_list <<< "$MODES"
common=(--model=hyperprior --num_filters="$N" --num_latents="$M" --train_glob="$glob"
        --log_every=200 --checkpoint_every=500)
threads_for() { if (( $1 > 1 )); then echo 1; else echo 2; fi; }

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
    --threads="$(threads_for ${#base_list[@]})" --num_steps="$BASE_STEPS" \
    --warmup_steps=300 --learning_rate=5e-4 \
    --density_learning_rate=1e-3 --lr_decay_at=1.0 --alpha_start=1 --alpha_end=12 \
    --checkpoint_dir="$root/base-$m" >> "$root/base-$m.log" 2>&1
}

lane() {
  local m=$1 l from=un alpha=1
  if [[ " $BASES " == *" $m "* ]]; then from=$m; alpha=12; fi
  for l in $LAMBDAS; do
    $py scripts/train.py "${common[@]}" "$(mode_flag "$m")" --lmbda="$l" \
      --threads="$(threads_for ${#mode_list[@]})" \
      --num_steps="$TUNE_STEPS" --learning_rate=2e-4 --lr_decay_at=0.7 \
      --alpha_start="$alpha" --alpha_end=16 --init_from="$root/base-$from" \
      --checkpoint_dir="$root/$m-$l-b$BASE_STEPS" --export_dir="$export_dir" \
      --name="hyperprior-$l" >> "$root/$m-$l-b$BASE_STEPS.log" 2>&1
  done
}

mkdir -p "$root" "$export_dir"
for m in "${base_list[@]}"; do base "$m" & done; wait
for m in "${mode_list[@]}"; do lane "$m" & done; wait
