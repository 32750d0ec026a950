"""``chemagent_build_info``: which version, commit and RDKit a worker runs."""

from __future__ import annotations

from chemagent.observability.metrics import BUILD_INFO


def record_build_info(version: str, commit: str, rdkit: str) -> None:
    """Set ``chemagent_build_info{version, commit, rdkit} 1`` for this process.

    ``commit`` is ``CHEMAGENT_GIT_COMMIT`` (what ``/version`` shows; the image build sets
    it), so a dashboard and a release check read the same value.
    """
    BUILD_INFO.labels(version, commit, rdkit).set(1)
