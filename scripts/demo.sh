#!/usr/bin/env bash
# The main job: set-up (venv + install, skipped when up to date), then the `text2ml`
# command on the Titanic data the project ships. Writes the optimized pipeline as a
# notebook and as a Python program under .text2ml/demo/.
#
#   bash scripts/demo.sh                 # 60-second budget
#   bash scripts/demo.sh --budget 20     # extra arguments go to `text2ml run`
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

OUT_DIR=".text2ml/demo"
NOTEBOOK="$OUT_DIR/titanic.ipynb"
PROGRAM="$OUT_DIR/titanic.py"

text2ml run "Predict whether a passenger survived the sinking. Optimize F1." \
    --data notebooks/data/titanic.csv \
    --budget 60 \
    --out "$NOTEBOOK" \
    --out "$PROGRAM" \
    "$@"

echo
echo "Open the notebook: .venv/bin/jupyter lab $NOTEBOOK"
echo "Run the program:   .venv/bin/python $PROGRAM"
