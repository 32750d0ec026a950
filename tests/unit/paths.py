"""Where the unit tier finds the source tree and the shared ChEMBL recordings."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SRC = REPO_ROOT / "src" / "chemagent"
CHEMBL_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures" / "chembl"
