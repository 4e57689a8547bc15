# Sourced by scripts/dev and scripts/test: create or reuse .venv and install
# the project into it. Reinstalls only when pyproject.toml changed, so the
# second run starts in milliseconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"
extras="${1:-}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "kraft needs Python 3.11+"'
    "$PY" -m venv "$VENV"
fi
stamp="$VENV/.kraft-installed${extras:+-$extras}"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e "$ROOT${extras:+[$extras]}"
    echo "$want" > "$stamp"
fi
# Python reads __pycache__ even where PYTHONDONTWRITEBYTECODE forbids writing
# it; without a compiled copy every kraft process (the nodes each test starts,
# too) compiles ~200 modules from source at start, ~0.25 s of CPU each time.
# compileall rewrites only what changed (~0.15 s when nothing did).
if [ -n "${PYTHONDONTWRITEBYTECODE:-}" ]; then
    "$VENV/bin/python" -m compileall -q -j 0 "$ROOT/kraft" "$ROOT/log" "$ROOT/net" \
        "$ROOT/tests" >/dev/null || true
fi
# Likewise the methods @dataclass compiles at run time (kraft.dataclass_code): the
# kraft command reads them from this file; written again when a source changed.
dc_cache="$ROOT/kraft/__pycache__/dataclass-code.$("$VENV/bin/python" -c \
    'import sys; print(sys.implementation.cache_tag)').marshal"
if [ ! -f "$dc_cache" ] || [ -n "$(find "$ROOT/kraft" "$ROOT/log" "$ROOT/net" -name '*.py' \
        -newer "$dc_cache" -print -quit)" ]; then
    (cd "$ROOT" && "$VENV/bin/python" -m kraft.dataclass_code) || true
fi
