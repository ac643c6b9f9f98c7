#!/usr/bin/env bash
# penstock's developer entry point: sets up .venv from the pinned lock (only when the lock or the
# packaging changed), then runs the main job or the checks.
#   ./dev.sh demo   set up, then run the penguin pipeline end to end
#   ./dev.sh test   set up, then ruff + mypy + the whole test suite
#   ./dev.sh setup  set up only
set -euo pipefail
cd "$(dirname "$0")"

UV_VERSION=0.13.9
VENV=.venv
PY=$VENV/bin/python

setup() {
  local stamp_file=$VENV/.penstock-setup
  local want
  want=$(cat requirements/lock.txt pyproject.toml setup.cfg | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$want" ] && [ -x "$PY" ]; then
    return 0
  fi
  echo "== setting up $VENV from requirements/lock.txt" >&2
  [ -x "$PY" ] || python3 -m venv "$VENV"
  [ -x "$VENV/bin/uv" ] || "$PY" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
  "$VENV/bin/uv" pip sync --quiet --python "$PY" requirements/lock.txt
  "$VENV/bin/uv" pip install --quiet --python "$PY" --no-deps --no-build-isolation -e .
  echo "$want" > "$stamp_file"
}

cmd=${1:-help}
shift || true
case "$cmd" in
  setup)
    setup ;;
  demo)
    setup
    exec "$VENV/bin/penstock" run examples/penguin/pipeline.py "$@" ;;
  test)
    setup
    export TF_USE_LEGACY_KERAS=1
    echo "== ruff" >&2
    "$VENV/bin/ruff" check penstock tests bench examples
    echo "== mypy" >&2
    "$VENV/bin/mypy" penstock
    echo "== pytest" >&2
    # On every core: the suite is mostly one busy process at a time (TensorFlow, Beam, servers
    # starting). Tests go to workers by group (tests/conftest.py): shared fixtures are built once.
    exec "$PY" -m pytest -n "${PENSTOCK_TEST_WORKERS:-auto}" "$@" ;;
  *)
    sed -n '2,7p' "$0"; exit 2 ;;
esac
