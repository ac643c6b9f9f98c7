#!/usr/bin/env bash
# Build the TFX 1.16 peer environment used by bench/vs_tfx.py.
#
# TFX 1.16 installs only on Python 3.10 and only against its own compatibility table (an
# unpinned `tfx==1.16.0` resolves a Beam without `dill` and fails at import), so it lives in its
# own virtualenv, bench/.venv-tfx, separate from penstock's. Idempotent: a stamp file records
# the pins the venv was built from; when it matches, nothing is done.
#
#   bench/tfx/setup.sh            # build or reuse
#   bench/tfx/setup.sh --force    # rebuild from scratch
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${PENSTOCK_TFX_VENV:-$(dirname "$here")/.venv-tfx}"
python310="${PENSTOCK_TFX_PYTHON:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")/versions/3.10.13/bin/python3}"

pins=(
  "tfx[kfp]==1.16.0"
  "apache-beam[gcp]==2.59.0"
  "ml-metadata==1.16.0"
  "pyarrow==10.0.1"
  "tensorflow==2.16.2"
  "tensorflow-data-validation==1.16.1"
  "tensorflow-metadata==1.16.1"
  "tensorflow-model-analysis==0.47.0"
  "tensorflow-serving-api==2.16.1"
  "tensorflow-transform==1.16.0"
  "tfx-bsl==1.16.1"
  "psutil"
)
stamp_text="python=3.10.13 ${pins[*]}"
stamp="$venv/.penstock-bench-stamp"

if [[ "${1:-}" == "--force" ]]; then
  rm -rf "$venv"
elif [[ -f "$stamp" && "$(cat "$stamp")" == "$stamp_text" && -x "$venv/bin/python" ]]; then
  echo "TFX venv up to date: $venv"
  exit 0
fi

if [[ ! -x "$python310" ]]; then
  echo "error: Python 3.10 interpreter not found at $python310 (set PENSTOCK_TFX_PYTHON)" >&2
  exit 1
fi

rm -rf "$venv"
"$python310" -m venv "$venv"
# uv resolves the pinned family in well under a minute; pip backtracks for minutes.
uv_bin="$(command -v uv || true)"
if [[ -z "$uv_bin" ]]; then
  "$venv/bin/python" -m pip install --quiet uv
  uv_bin="$venv/bin/uv"
fi
"$uv_bin" pip install --python "$venv/bin/python" "${pins[@]}"
# Fail now, not in the middle of a benchmark, if the set does not import.
TF_CPP_MIN_LOG_LEVEL=3 "$venv/bin/python" -c "import tfx.v1 as tfx, tfx.examples.penguin.penguin_utils_keras; print('tfx', tfx.__version__)" 2>/dev/null \
  || "$venv/bin/python" -c "from tfx import version; import tfx.v1; print('tfx', version.__version__)"
echo "$stamp_text" > "$stamp"
echo "TFX venv ready: $venv"
