#!/usr/bin/env python3
"""Write capacity/schemas/results.schema.json from the pydantic models of results.json.

The models in capacity/report/schema.py are the source of truth; the committed schema is what
they generate (`Results.model_json_schema()`), for readers of results.json who do not read
Python. Never edit the schema by hand: change the models, then run

    make schemas

`--check` exits 1 instead of writing when the file differs (tests/capacity/test_results_schema.py
runs the same comparison).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from capacity.report.schema import render_schema

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "capacity" / "schemas" / "results.schema.json"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SCHEMA_FILE, help="schema file to write")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the file differs from the generated one"
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    text = render_schema()
    if args.check:
        if not out.is_file() or out.read_text(encoding="utf-8") != text:
            print(f"{out} is out of date; run `make schemas`")
            return 1
        return 0
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
