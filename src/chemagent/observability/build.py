"""``chemagent_build_info``: which version, commit and RDKit a worker runs."""

from __future__ import annotations

from pathlib import Path

from chemagent.observability.metrics import BUILD_INFO


def source_commit(start: Path | None = None) -> str:
    """The git commit of the source checkout this package runs from, else ``unknown``.

    Reads ``.git/HEAD`` (and the ref it names) without running git: an installed wheel
    has no checkout, and the image build passes ``CHEMAGENT_BUILD_COMMIT`` instead.
    """
    here = (start or Path(__file__)).resolve()
    for directory in here.parents:
        head = directory / ".git" / "HEAD"
        if not head.is_file():
            continue
        try:
            text = head.read_text().strip()
            if text.startswith("ref: "):
                ref = directory / ".git" / text[5:]
                if ref.is_file():
                    return ref.read_text().strip()[:12]
                packed = directory / ".git" / "packed-refs"
                for line in packed.read_text().splitlines() if packed.is_file() else ():
                    if line.endswith(" " + text[5:]):
                        return line.split()[0][:12]
                return "unknown"
            return text[:12]
        except OSError:
            return "unknown"
    return "unknown"


def record_build_info(version: str, commit: str, rdkit: str) -> None:
    """Set ``chemagent_build_info{version, commit, rdkit} 1`` for this process."""
    BUILD_INFO.labels(version, commit, rdkit).set(1)
