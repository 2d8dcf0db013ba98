"""GraphiQL's vendored assets: the bytes match VERSIONS.json and the pins of
scripts/vendor_graphiql.sh, each package brings its licence, the page names only files of the
package, and a built wheel carries them all (package data)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "services" / "api" / "static"
ASSETS = STATIC / "graphiql"
SCRIPT = ROOT / "scripts" / "vendor_graphiql.sh"
#: the files that are ours, not vendored
OURS = {"okr-graphiql.js", "okr-graphiql.css"}


def manifest() -> dict[str, dict[str, object]]:
    data = json.loads((ASSETS / "VERSIONS.json").read_text())
    return {entry["package"]: entry for entry in data["packages"]}


def test_vendored_files_match_the_manifest_and_the_pins() -> None:
    """Every vendored file hashes as recorded, every package has its licence, versions are the pins."""
    script = SCRIPT.read_text()
    pins = {
        "graphiql": re.search(r"^GRAPHIQL=(\S+)$", script, re.M),
        "react": re.search(r"^REACT=(\S+)$", script, re.M),
        "react-dom": re.search(r"^REACT_DOM=(\S+)$", script, re.M),
    }
    packages = manifest()
    assert set(packages) == set(pins)
    listed: set[str] = set()
    for name, entry in packages.items():
        pin = pins[name]
        assert pin is not None and entry["version"] == pin.group(1), name
        files = entry["files"]
        assert isinstance(files, dict)
        assert f"LICENSE-{name}" in files
        for served, facts in files.items():
            assert hashlib.sha256((ASSETS / served).read_bytes()).hexdigest() == facts["sha256"], served
        listed |= set(files)
    on_disk = {path.name for path in ASSETS.iterdir()}
    assert on_disk == listed | OURS | {"VERSIONS.json"}


def test_the_page_names_only_files_of_the_package() -> None:
    """graphiql.html loads assets from this server's mount alone, and each one exists."""
    page = (STATIC / "graphiql.html").read_text()
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls
    for url in urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("{{assets}}/"), url
        assert (ASSETS / url.removeprefix("{{assets}}/")).is_file(), url
    for ours in (page, *((ASSETS / name).read_text() for name in OURS)):
        assert "://" not in ours


def test_a_built_wheel_carries_the_ide(tmp_path: Path) -> None:
    """`pip wheel` of the project packages the page, the assets, the licences and VERSIONS.json."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "services", source / "services", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"api/static/graphiql.html"} | {
        f"api/static/graphiql/{path.name}" for path in ASSETS.iterdir()
    }
    assert expected <= names, sorted(expected - names)
