#!/usr/bin/env bash
# One-command setup: creates .venv, installs the app and its test tools, and (when run as root or with
# sudo) Debian's chromium + chromium-driver for the browser tests. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
# torch first and alone, pinned: an unpinned resolution would pull a multi-GB CUDA build.
# constraints.txt pins what our requirements pull in (as last tested), so a dependency's new release changes nothing.
.venv/bin/python -m pip install --quiet "torch==2.13.0" -c constraints.txt
.venv/bin/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt -c constraints.txt
# The library itself, editable: `.venv/bin/python` imports explainer from any folder (setuptools comes with torch).
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .

# bertviz's views need require.js, d3 and jQuery: from the npm registry now, inlined by the app at run time
# (no CDN). Pinned in frontend/package-lock.json.
if ! command -v npm >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix frontend --no-audit --no-fund --loglevel=error
else
  echo "NOTE: npm is missing: the bertviz views stay off until 'npm ci --prefix frontend' is run." >&2
fi

# Browser tests drive Debian's Chromium (never a browser downloaded by a test tool).
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
elif command -v apt-get >/dev/null 2>&1; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else SUDO="none"; fi
  fi
  if [ "$SUDO" = "none" ]; then
    echo "NOTE: browser tests need Debian's chromium and chromium-driver:" >&2
    echo "      run as root: apt-get update && apt-get install -y chromium chromium-driver" >&2
  else
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
else
  echo "NOTE: browser tests need Chromium at /usr/bin/chromium (set CHROMIUM_PATH to use another)." >&2
fi
echo "Installed. Run the app:   .venv/bin/streamlit run serve.py"
echo "Run the tests:            .venv/bin/python -m pytest"
