#!/usr/bin/env bash
# The main job: set-up (venv + install with the JupyterLab extension, skipped when up to
# date), then notebooks/quickstart.ipynb executed headless (nbclient) with the offline
# provider: its %%text2ml cell runs on the shipped Titanic data, the generated cells are
# inserted below it and run too. Writes notebooks/quickstart.executed.ipynb and prints
# the run's summary.
#
#   bash scripts/demo.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"

OUT="notebooks/quickstart.executed.ipynb"
# The offline provider, even where an LLM is configured: the main job needs no key.
env -u OPENAI_API_KEY -u OPENAI_BASE_URL text2ml execute notebooks/quickstart.ipynb --out "$OUT"

echo
echo "Open it in JupyterLab:  .venv/bin/jupyter lab $OUT"
echo "(or open notebooks/quickstart.ipynb and run its cells to watch the live dashboard)"
