#!/bin/bash
# The validation-split runs behind the demo's defaults (docs/results-and-choices.md, "Choices,
# made on the validation split"): model.landmarks, train_rnn.freeze_cnn and train_cnn.patience, each trained
# by the stage modules into a scratch folder, printing the kept (best-on-validation) epoch's val
# metrics.
# The test split is never read. Needs data/records (dvc repro shard).
#
#   bash benchmarks/val_choices.sh [OUT_DIR] [SEEDS]      # default /tmp/val_choices, "0 1 2"
#
# The no-landmark CNN runs equal the DVC runs of the same seed (dvclive/train_cnn,
# dvclive/seeds/*/train_cnn): same code, params and seed give the same weights. The frozen
# CNN-RNN runs here train on images (no --features); the DVC runs train on the cached CNN
# features: the same computation with other random draws, so other numbers.
set -euo pipefail
OUT=${1:-/tmp/val_choices}
SEEDS=${2:-0 1 2}
mkdir -p "$OUT"
variant() { # name landmarks(true|false) freeze(true|false) rnn_lr cnn_patience
  python - "$OUT/$1.yaml" "$2" "$3" "$4" "$5" <<'PY'
import sys, yaml
out, lm, fr, lr, patience = sys.argv[1:6]
p = yaml.safe_load(open("params.yaml"))
p["model"]["landmarks"] = lm == "true"
p["train_rnn"]["freeze_cnn"] = fr == "true"
p["train_rnn"]["learning_rate"] = float(lr)
p["train_cnn"]["patience"] = int(patience)
yaml.safe_dump(p, open(out, "w"))
PY
}
variant lm_false_frozen false true 0.001 15
variant lm_false_finetune false false 0.0001 15
variant lm_true_frozen true true 0.001 15
variant patience5 false true 0.001 5
for s in $SEEDS; do
  for lm in false true; do
    d="$OUT/s$s-landmarks-$lm"
    python -m stages.train_cnn --params "$OUT/lm_${lm}_frozen.yaml" --records data/records \
      --out "$d/cnn" --checkpoints "$d/ck_cnn" --live "$d/live_cnn" --seed "$s" > "$d.cnn.log" 2>&1
    echo "CNN     seed $s landmarks=$lm: $(tr -d '\n ' < "$d/live_cnn/metrics.json")"
    for v in frozen finetune; do
      [ "$lm" = true ] && [ "$v" = finetune ] && continue
      python -m stages.train_rnn --params "$OUT/lm_${lm}_$v.yaml" --records data/records \
        --cnn "$d/cnn" --out "$d/rnn_$v" --checkpoints "$d/ck_rnn_$v" --live "$d/live_rnn_$v" \
        --seed "$s" > "$d.rnn_$v.log" 2>&1
      echo "CNN-RNN seed $s landmarks=$lm $v: $(tr -d '\n ' < "$d/live_rnn_$v/metrics.json")"
    done
  done
done
for s in $SEEDS; do
  d="$OUT/s$s-patience-5"
  python -m stages.train_cnn --params "$OUT/patience5.yaml" --records data/records \
    --out "$d/cnn" --checkpoints "$d/ck_cnn" --live "$d/live_cnn" --seed "$s" > "$d.cnn.log" 2>&1
  echo "CNN     seed $s patience=5: $(tr -d '\n ' < "$d/live_cnn/metrics.json")"
done
