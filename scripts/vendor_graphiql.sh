#!/usr/bin/env bash
# Re-vendors GraphiQL's browser assets into services/api/static/graphiql/ from the npm registry
# (`npm pack` of pinned versions; npm checks each tarball against the registry's integrity).
# Writes the files the page loads, each package's licence and VERSIONS.json (package, version,
# tarball integrity, sha256 and SRI sha384 of every file). Run it after changing a pin below,
# then run tests/contract/test_graphiql_assets.py and the browser test, and commit the result.
set -euo pipefail
cd "$(dirname "$0")/.."

# pins: graphiql 3.x is the last line with a standalone (UMD) build usable without a bundler; these
# are the versions strawberry's own GraphiQL page loads from a CDN (same bytes, same SRI hashes)
GRAPHIQL=3.8.3
REACT=18.2.0
REACT_DOM=18.2.0

DEST=services/api/static/graphiql
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm pack --silent --json "graphiql@$GRAPHIQL" "react@$REACT" "react-dom@$REACT_DOM" >pack.json)

python3 - "$WORK" "$DEST" <<'PY'
import base64
import hashlib
import json
import shutil
import sys
import tarfile
from pathlib import Path

work, dest = Path(sys.argv[1]), Path(sys.argv[2])
# package -> (file inside the tarball, name served) ; each package's LICENSE comes along
WANTED = {
    "graphiql": [("graphiql.min.js", "graphiql.min.js"), ("graphiql.min.css", "graphiql.min.css")],
    "react": [("umd/react.production.min.js", "react.production.min.js")],
    "react-dom": [("umd/react-dom.production.min.js", "react-dom.production.min.js")],
}
dest.mkdir(parents=True, exist_ok=True)
manifest = {"source": "npm registry, via npm pack", "packages": []}
for packed in json.loads((work / "pack.json").read_text()):
    name = packed["name"]
    files = [*WANTED[name], ("LICENSE", f"LICENSE-{name}")]
    entry = {"package": name, "version": packed["version"], "integrity": packed["integrity"], "files": {}}
    with tarfile.open(work / packed["filename"]) as tar:
        for inner, served in files:
            member = tar.extractfile(f"package/{inner}")
            if member is None:
                raise SystemExit(f"{name}@{packed['version']} has no {inner}")
            data = member.read()
            (dest / served).write_bytes(data)
            entry["files"][served] = {
                "from": inner,
                "sha256": hashlib.sha256(data).hexdigest(),
                "sri": "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode(),
            }
    manifest["packages"].append(entry)
manifest["packages"].sort(key=lambda p: p["package"])
(dest / "VERSIONS.json").write_text(json.dumps(manifest, indent=2) + "\n")
for package in manifest["packages"]:
    print(f"{package['package']}@{package['version']}: {', '.join(package['files'])}")
PY
