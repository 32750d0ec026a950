"""Library search: similarity and substructure."""

from __future__ import annotations

from fastapi import APIRouter

from chemagent.api.deps import OpsDep
from chemagent.api.models import (
    ErrorBody,
    SimilarityRequest,
    SimilarityResponse,
    SubstructureRequest,
    SubstructureResponse,
)
from chemagent.errors import InvalidInput

router = APIRouter(prefix="/v1", tags=["search"])
ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "The query compound is unknown."},
    422: {"model": ErrorBody, "description": "Invalid input; the detail says what to fix."},
}


@router.post(
    "/similarity",
    response_model=SimilarityResponse,
    responses=ERRORS,
    summary="Compounds similar to an ID, name or SMILES (Tanimoto, Morgan r2 2048).",
)
async def similarity(body: SimilarityRequest, ops: OpsDep) -> SimilarityResponse:
    """Most similar first; page with limit/offset; threshold in [0, 1]."""
    limit_max = ops.max_results
    # An unsent limit takes its default (20) only up to what CHEMAGENT_MAX_TOP_K leaves
    # after the offset: {"offset": 990} alone asks for the last page, not for an error.
    limit = (
        body.limit
        if "limit" in body.model_fields_set
        else max(1, min(body.limit, limit_max - body.offset))
    )
    if body.top_k is not None and body.top_k > limit_max:
        raise InvalidInput(f"top_k is {body.top_k}; the limit is {limit_max}.")
    if limit > limit_max:
        raise InvalidInput(f"limit is {limit}; the limit is {limit_max}.")
    return SimilarityResponse.model_validate(
        await ops.similarity(body.query, body.threshold, body.top_k, limit, body.offset)
    )


@router.post(
    "/substructure",
    response_model=SubstructureResponse,
    responses=ERRORS,
    summary="Compounds containing a SMARTS or SMILES substructure.",
)
async def substructure(body: SubstructureRequest, ops: OpsDep) -> SubstructureResponse:
    """A pattern-fingerprint screen, then an RDKit match of every candidate."""
    # An unsent limit takes its default (100) only up to a smaller CHEMAGENT_MAX_TOP_K.
    limit = body.limit if "limit" in body.model_fields_set else min(body.limit, ops.max_results)
    if limit > ops.max_results:
        raise InvalidInput(f"limit is {limit}; the limit is {ops.max_results}.")
    if body.smarts is not None:
        found = await ops.substructure(body.smarts, limit, body.chirality, "smarts")
    else:
        found = await ops.substructure(body.smiles or "", limit, body.chirality, "smiles")
    return SubstructureResponse.model_validate(found)
