"""Structure tools: standardization and batch calls."""

from __future__ import annotations

from fastapi import APIRouter

from chemagent.api.deps import OpsDep
from chemagent.api.models import (
    BatchRequest,
    BatchResponse,
    ErrorBody,
    StandardizeRequest,
    StandardizeResponse,
)

router = APIRouter(prefix="/v1", tags=["tools"])
ERRORS: dict[int | str, dict[str, object]] = {
    422: {"model": ErrorBody, "description": "Invalid input; the detail says what to fix."},
}


@router.post(
    "/standardize",
    response_model=StandardizeResponse,
    responses=ERRORS,
    summary="ChEMBL standardized and parent structures with checker penalties.",
)
async def standardize(body: StandardizeRequest, ops: OpsDep) -> StandardizeResponse:
    """Runs the ChEMBL structure pipeline: checker, standardizer, get_parent."""
    if body.molblock is not None:
        return StandardizeResponse.model_validate(await ops.standardize(body.molblock, "molblock"))
    return StandardizeResponse.model_validate(await ops.standardize(body.smiles or "", "smiles"))


@router.post(
    "/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    summary="Many compounds by ID, or many property panels by SMILES, in one call.",
)
async def batch(body: BatchRequest, ops: OpsDep) -> BatchResponse:
    """Items run concurrently; each gets a result or its own error, in input order."""
    return BatchResponse.model_validate(await ops.batch(body.ids, body.smiles))
