"""Compounds: lookup by ID, resolution by name/SMILES/InChIKey, property panels, images."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from chemagent.api.deps import OpsDep
from chemagent.api.models import (
    Compound,
    ErrorBody,
    PropertiesRequest,
    PropertiesResponse,
    ResolveResponse,
)
from chemagent.errors import CompoundNotFound, InvalidInput

router = APIRouter(prefix="/v1", tags=["compounds"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown compound."},
    422: {"model": ErrorBody, "description": "Invalid input; the detail says what to fix."},
}
MAX_ID_LENGTH = 64  # also the fast path's (api/fast_path.py): longer IDs get this route's 422
ChemblId = Annotated[
    str,
    Path(
        description="Compound ID, e.g. CHEMBL25.", max_length=MAX_ID_LENGTH, examples=["CHEMBL25"]
    ),
]
Width = Annotated[int, Query(ge=50, le=2000, description="Width in pixels.")]
Height = Annotated[int, Query(ge=50, le=2000, description="Height in pixels.")]
SVG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/svg+xml": {}}, "description": "An SVG document."}
}


@router.get(
    "/compounds/{chembl_id}",
    response_model=Compound,
    responses=ERRORS,
    summary="One compound with structures and its ChEMBL property panel.",
)
async def get_compound(chembl_id: ChemblId, ops: OpsDep) -> Response:
    """Look up a compound by ID (e.g. CHEMBL25), with ChEMBL's property panel."""
    # Validated once and serialized by pydantic-core; returning the model would make
    # FastAPI validate it again before serializing (~25 us of a ~170 us cached lookup).
    body = Compound.model_validate(await ops.compound(chembl_id)).model_dump_json()
    return Response(body, media_type="application/json")


@router.get(
    "/compounds",
    response_model=ResolveResponse,
    responses=ERRORS,
    summary="Resolve a name, SMILES or InChIKey to compounds, exact matches first.",
)
async def resolve_compounds(
    ops: OpsDep,
    name: Annotated[
        str | None, Query(max_length=500, description="Name or synonym.", examples=["paracetamol"])
    ] = None,
    smiles: Annotated[str | None, Query(max_length=100_000, description="A SMILES.")] = None,
    inchikey: Annotated[
        str | None, Query(max_length=64, description="A standard InChIKey.")
    ] = None,
) -> ResolveResponse:
    """Exact matches (ID, pref_name, synonym, structure) first, then fuzzy suggestions."""
    given = {
        k: v
        for k, v in {"name": name, "smiles": smiles, "inchikey": inchikey}.items()
        if v is not None
    }
    if len(given) != 1:
        raise InvalidInput("Send exactly one of the query parameters name, smiles or inchikey.")
    mode, value = next(iter(given.items()))
    resolved = await ops.resolve(value, mode)
    results = resolved["matches"] + resolved["suggestions"]
    if not results and not resolved["molecule"]:
        raise CompoundNotFound(
            f"No compound matches {mode} '{value.strip()[:80]}'. "
            + ops.runner.context.not_found_hint()
        )
    return ResolveResponse(
        query=resolved["query"],
        kind=resolved["kind"],
        results=results,
        molecule=resolved["molecule"],
    )


@router.get(
    "/compounds/{chembl_id}/properties",
    response_model=PropertiesResponse,
    responses=ERRORS,
    summary="The ChEMBL property panel of a library compound.",
)
async def compound_properties(chembl_id: ChemblId, ops: OpsDep) -> PropertiesResponse:
    """Properties of a library compound, in ChEMBL's field names."""
    return PropertiesResponse.model_validate(await ops.properties_of_compound(chembl_id))


@router.post(
    "/properties",
    response_model=PropertiesResponse,
    responses=ERRORS,
    summary="The ChEMBL property panel of any molecule ({smiles} or {chembl_id}).",
)
async def properties(body: PropertiesRequest, ops: OpsDep) -> PropertiesResponse:
    """Standardize, strip salts, compute on the parent; full-molecule weight and formula too."""
    if body.chembl_id is not None:
        return PropertiesResponse.model_validate(await ops.properties_of_compound(body.chembl_id))
    return PropertiesResponse.model_validate(await ops.properties_of_smiles(body.smiles or ""))


@router.get(
    "/compounds/{chembl_id}/image.svg",
    response_class=Response,
    responses={**ERRORS, **SVG},
    summary="SVG depiction of a library compound.",
)
async def compound_image(
    chembl_id: ChemblId, ops: OpsDep, width: Width = 300, height: Height = 300
) -> Response:
    """An SVG drawing of the compound, labelled with its ID."""
    svg = await ops.depict_compound(chembl_id, width, height)
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get(
    "/depict",
    response_class=Response,
    responses={**ERRORS, **SVG},
    summary="SVG depiction of a SMILES.",
)
async def depict(
    ops: OpsDep,
    smiles: Annotated[
        str,
        Query(
            max_length=100_000,
            description="The molecule to draw.",
            examples=["CC(=O)Oc1ccccc1C(=O)O"],
        ),
    ],
    width: Width = 300,
    height: Height = 300,
) -> Response:
    """An SVG drawing of any molecule."""
    svg = await ops.depict_smiles(smiles, width, height)
    return Response(
        svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )
