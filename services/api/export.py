"""`okr export-schema`: writes schema/okr.graphql, schema/events/*.json and schema/asyncapi.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from api.schema import sdl
from relay.contracts import diff_contracts, export_contracts

GRAPHQL_FILE = "okr.graphql"


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    target = out / GRAPHQL_FILE
    text = sdl()
    if args.check:
        problems = []
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            problems.append(f"{target} differs from the code")
        problems.extend(diff_contracts(out))
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("run `okr export-schema` to update them", file=sys.stderr)
            return 1
        print(f"{out} is up to date")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    written = export_contracts(out)
    print(f"wrote {len(written)} event contracts (events/*.json, asyncapi.yaml) under {out}")
    return 0
