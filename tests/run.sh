#!/usr/bin/env bash
# The whole test suite, from a fresh clone: creates .venv, installs what the
# tests need, type-checks, and runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "tests/run.sh: $*" >&2; exit 1; }

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$python is older than 3.11"
[ -x /usr/bin/python3 ] || fail "Debian's /usr/bin/python3 is required (the pyz is tested on it): apt-get install python3"

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -qq --disable-pip-version-check -e '.[test]' \
  || fail "could not install the test dependencies"

.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
