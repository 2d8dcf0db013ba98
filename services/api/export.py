"""`okr export-schema`: writes schema/okr.graphql, schema/events/*.json and schema/asyncapi.yaml."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from api.schema import sdl

GRAPHQL_FILE = "okr.graphql"


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    target = out / GRAPHQL_FILE
    text = sdl()
    contracts = _contracts()
    if args.check:
        problems = []
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            problems.append(f"{target} differs from the code")
        diff = getattr(contracts, "diff_contracts", None)
        if callable(diff):
            problems.extend(diff(out))
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
    export = getattr(contracts, "export_contracts", None)
    if callable(export):
        written = export(out)
        print(f"wrote {len(written)} event contracts (events/*.json, asyncapi.yaml) under {out}")
    return 0


def _contracts() -> object | None:
    """projections.contracts, when that part of the project is installed."""
    try:
        return importlib.import_module("projections.contracts")
    except ModuleNotFoundError as exc:
        if exc.name and "projections.contracts".startswith(exc.name):
            return None
        raise
