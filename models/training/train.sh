#!/usr/bin/env bash
# Retrain the shipped synthetic-line detector from scratch, end to end, offline, on the CPU:
#   1. write the training set and the held-out set with the station's own synthetic line
#   2. train (PyTorch from Debian: apt-get install python3-torch python3-torchvision python3-onnx)
#   3. export to ONNX in the Ultralytics detection contract, write its manifest
#   4. measure it with `station replay` and `station eval --report` on the held-out set (the model
#      card's numbers, and the saved evaluation the gallery shows on the recipe page)
# About 20 minutes on 2 cores. Seeds are fixed; results repeat to within thread scheduling noise.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${WORK:-$here/data}"
out="${OUT:-$root/models/plate-defects.onnx}"
station="node $root/bin/station.js"

$station synth "$work/train" --seed 11 --start 0 --count "${TRAIN_COUNT:-4000}" --defect-rate 0.5
$station synth "$work/heldout" --seed 11 --start 1000000 --count 1000 --defect-rate 0.3
/usr/bin/python3 "$here/train_detector.py" --data "$work/train" --out "$out" --epochs "${EPOCHS:-14}" --seed 0
rm -f "$out.pt"
report="$(basename "${out%.onnx}").eval-heldout.json"
/usr/bin/python3 "$here/manifest.py" "$out" --name plate-defects --card plate-defects.md --report "$report"
$station replay "$work/heldout" --model "$out" | tail -n 1
# The evaluation the gallery shows beside the recipe (what each threshold costs).
$station eval "$work/heldout" --model "$out" --report "$(dirname "$out")/$report" \
  --dataset-description "synthetic machined plates, held-out parts 1,000,000–1,000,999 (seed 11)" --json | tail -n 1
