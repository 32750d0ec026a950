"""Probes and build information."""

from __future__ import annotations

import platform

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chemagent import __version__
from chemagent.api.deps import StateDep
from chemagent.api.models import Health, LibraryInfo, Ready, VersionInfo
from chemagent.api.state import AppState
from chemagent.chem import RDKIT_VERSION

router = APIRouter(tags=["operations"])


def library_info(state: AppState) -> LibraryInfo:
    manifest = state.library.manifest
    return LibraryInfo(
        name=manifest.name,
        version=manifest.version,
        size=len(state.library),
        rdkit_version=manifest.rdkit_version,
        has_properties=manifest.has_properties,
    )


@router.get("/healthz", response_model=Health, summary="Liveness: the process serves.")
async def healthz() -> Health:
    """Checks nothing but the process: restart the pod only when this fails."""
    return Health()


@router.get(
    "/readyz",
    response_model=Ready,
    summary="Readiness: library loaded, not draining; Redis state.",
    responses={503: {"model": Ready, "description": "Draining or starting."}},
)
async def readyz(state: StateDep) -> JSONResponse:
    """200 when the library is loaded; 503 while draining on shutdown.

    ``redis`` is ``degraded`` while the shared cache is failing or skipped by its
    breaker: the pod still serves (from L1 and by computing), so it stays ready.
    """
    body = Ready(
        status="draining" if state.draining else "ready",
        library=library_info(state),
        redis=state.cache.l2.state,  # ok, degraded or disabled
        pending_steps=state.runner.pending,
    )
    return JSONResponse(body.model_dump(), status_code=503 if state.draining else 200)


@router.get("/version", response_model=VersionInfo, summary="Version, commit, RDKit, library.")
async def version(state: StateDep) -> VersionInfo:
    """What is running: package version, git commit, RDKit version and the library."""
    return VersionInfo(
        version=__version__,
        commit=state.settings.git_commit,
        rdkit_version=RDKIT_VERSION,
        python_version=platform.python_version(),
        library=library_info(state),
    )
