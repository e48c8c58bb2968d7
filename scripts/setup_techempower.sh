#!/usr/bin/env bash
# TechEmpower's FastAPI and Django entries, set up for scripts/bench_services.py --techempower-dir.
#
#     scripts/setup_techempower.sh /work/.mirror/TechEmpower+FrameworkBenchmarks/repo [/work/scratch/tfb]
#
# The first argument is a git directory (bare or not) of github.com/TechEmpower/FrameworkBenchmarks
# holding COMMIT below, the one docs/benchmarks.md cites; nothing is downloaded from GitHub. The
# second is the scratch directory to fill (default /work/scratch/tfb; it must not be inside this
# repository: their code is never committed here). It gets:
#   frameworks/Python/{fastapi,django}  `git archive` of COMMIT, with the one patch below
#   venv-fastapi   their pins: requirements-uvicorn.txt (FastAPI 0.126, uvicorn 0.40, ujson, ...)
#   venv-django    their pins: requirements.txt without mysqlclient, plus gunicorn 23.0.0
#   extras-ours    the packages their code imports that our uv.lock venv lacks (ujson for their
#                  FastAPI, orjson for their Django), at their pins, for PYTHONPATH beside our
#                  .venv: their apps run on OUR FastAPI/Starlette/uvicorn/asyncpg and
#                  Django/gunicorn/psycopg that way (the `layers` suite)
# The patch: database host, port, name, user and password from PG* environment variables (their
# files hard-code the `tfb-database` host), and their asyncpg pool capped by TFB_MAX_POOL (their
# 1000 // cpu_count() connections, at least half of it open, would be 250 per worker here).
# Needs git, uv and PyPI; re-running it starts the directory afresh.
set -euo pipefail

COMMIT=57d92fbec6f8fd7431bc77326dd0484e60c96e20
PYTHON=3.12
if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 TECHEMPOWER_GIT_DIR [SCRATCH_DIR]" >&2
    exit 2
fi
git_dir=$1
dest=${2:-/work/scratch/tfb}
repo_root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
case "$dest/" in
    "$repo_root"/*) echo "$0: $dest is inside this repository; use a scratch directory" >&2; exit 2 ;;
esac
if ! git --git-dir="$git_dir" cat-file -e "$COMMIT^{commit}" 2>/dev/null; then
    echo "$0: $git_dir is not a git directory holding commit $COMMIT" >&2
    exit 2
fi

rm -rf "$dest/frameworks" "$dest/venv-fastapi" "$dest/venv-django" "$dest/extras-ours"
git --git-dir="$git_dir" archive "$COMMIT" frameworks/Python/fastapi frameworks/Python/django \
    | tar -x -C "$dest"

python3 - "$dest/frameworks/Python" <<'EOF'
import sys
from pathlib import Path

root = Path(sys.argv[1])
EDITS = {
    "fastapi/app.py": [
        ("MAX_POOL_SIZE = 1000//multiprocessing.cpu_count()\n",
         "MAX_POOL_SIZE = min(1000//multiprocessing.cpu_count(), int(os.getenv('TFB_MAX_POOL', '1000')))\n"),
        ('password=os.getenv("PGPASS", "benchmarkdbpass"),\n        database="hello_world",\n'
         '        host="tfb-database",\n        port=5432,\n',
         'password=os.getenv("PGPASS", "benchmarkdbpass"),\n'
         '        database=os.getenv("PGDATABASE", "hello_world"),\n'
         '        host=os.getenv("PGHOST", "tfb-database"),\n'
         '        port=int(os.getenv("PGPORT", "5432")),\n'),
    ],
    "django/hello/hello/settings.py": [
        ('"NAME": "hello_world",\n        "USER": "benchmarkdbuser",\n'
         '        "PASSWORD": "benchmarkdbpass",\n        "HOST": "tfb-database",\n'
         '        "PORT": "",\n',
         '"NAME": os.getenv("PGDATABASE", "hello_world"),\n'
         '        "USER": os.getenv("PGUSER", "benchmarkdbuser"),\n'
         '        "PASSWORD": os.getenv("PGPASS", "benchmarkdbpass"),\n'
         '        "HOST": os.getenv("PGHOST", "tfb-database"),\n'
         '        "PORT": os.getenv("PGPORT", ""),\n'),
    ],
}
for name, edits in EDITS.items():
    path = root / name
    text = path.read_text()
    for old, new in edits:
        if text.count(old) != 1:
            sys.exit(f"setup_techempower: {name} does not hold the expected text:\n{old}")
        text = text.replace(old, new)
    path.write_text(text)
EOF

uv venv --quiet --python "$PYTHON" "$dest/venv-fastapi"
uv pip install --quiet --python "$dest/venv-fastapi/bin/python" \
    -r "$dest/frameworks/Python/fastapi/requirements-uvicorn.txt"
uv venv --quiet --python "$PYTHON" "$dest/venv-django"
grep -v '^mysqlclient' "$dest/frameworks/Python/django/requirements.txt" > "$dest/django-requirements.txt"
uv pip install --quiet --python "$dest/venv-django/bin/python" \
    -r "$dest/django-requirements.txt" gunicorn==23.0.0
# Only what their code imports and our packages lack; nothing that shadows one of ours.
uv pip install --quiet --python "$PYTHON" --target "$dest/extras-ours" ujson==5.10.0 orjson==3.11.3
echo "TechEmpower $COMMIT ready in $dest"
