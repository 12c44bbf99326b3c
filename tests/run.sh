#!/usr/bin/env bash
# The full test run: install and start the real services, install the project, lint, test.
# Runs as root on Debian 12; safe to run again (every step is idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."

bash console/sandbox/install.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/python -m pip install -qq --upgrade pip
.venv/bin/python -m pip install -qq -e '.[test]'
# Bytecode once, up front: where PYTHONDONTWRITEBYTECODE is set, every opsconsole process
# the tests start would otherwise compile the project again.
.venv/bin/python -m compileall -q -j 0 console backends screens widgets tests bench >/dev/null

echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy
echo "== import contracts"
.venv/bin/lint-imports
echo "== pytest"
# Three workers, a test file each at a time: most tests wait on real services, so they
# overlap well on two cores; each worker starts its own services where a file needs them.
.venv/bin/python -m pytest -q -p no:cacheprovider -n 3 --dist loadfile "$@"
