"""Request and response models: the OpenAPI contract of the v1 API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_LIST = 100_000  # static ceiling; the configured CHEMAGENT_MAX_BATCH_SIZE is checked too


class RequestBody(BaseModel):
    """Request bodies reject unknown fields: a typo ('treshold') must not silently fall
    back to a default."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """Every error: a stable code, a sentence saying what to change, and the trace id."""

    error: str = Field(examples=["invalid_molecule"])
    detail: str = Field(
        examples=[
            "The SMILES 'C1CC' could not be parsed: a ring-closure "
            "digit is opened but never closed."
        ]
    )
    trace_id: str | None = Field(
        None, description="The request's trace id, also in the x-trace-id response header."
    )
    suggestions: list[str] | None = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class LibraryInfo(BaseModel):
    name: str
    version: str
    size: int
    rdkit_version: str
    has_properties: bool


class Ready(BaseModel):
    status: Literal["ready", "draining", "starting"]
    library: LibraryInfo | None
    redis: Literal["disabled", "ok", "degraded"] = "disabled"
    chembl: Literal["disabled", "ok", "degraded"] = "disabled"
    pending_steps: int = 0


class VersionInfo(BaseModel):
    version: str
    commit: str
    rdkit_version: str
    python_version: str
    library: LibraryInfo


class MoleculeStructures(BaseModel):
    canonical_smiles: str = Field(description="Canonical SMILES of the standardized molecule.")
    standard_inchi: str | None = None
    standard_inchi_key: str | None = None
    parent_smiles: str | None = Field(None, description="Salts and solvents stripped.")
    parent_inchi_key: str | None = None


class PropertyPanel(BaseModel):
    """ChEMBL's compound properties (RDKit definitions, ChEMBL rounding), as JSON numbers."""

    full_mwt: float = Field(description="Molecular weight of the full molecule (with salts).")
    full_molformula: str = Field(description="Formula of the full molecule.")
    mw_freebase: float = Field(description="Molecular weight of the parent.")
    mw_monoisotopic: float = Field(description="Monoisotopic mass of the parent.")
    alogp: float = Field(description="Wildman-Crippen logP.")
    psa: float = Field(description="Topological polar surface area (Å²).")
    hba: int = Field(description="H-bond acceptors (RDKit Lipinski SMARTS).")
    hbd: int = Field(description="H-bond donors (RDKit Lipinski SMARTS); 0 is a value.")
    hba_lipinski: int = Field(description="N + O count.")
    hbd_lipinski: int = Field(description="NH + OH count.")
    rtb: int = Field(description="Rotatable bonds.")
    aromatic_rings: int
    aliphatic_rings: int
    num_rings: int
    heavy_atoms: int
    qed_weighted: float = Field(description="Quantitative estimate of drug-likeness.")
    fraction_csp3: float
    num_ro5_violations: int
    num_lipinski_ro5_violations: int
    ro3_pass: Literal["Y", "N"]


class CompoundSummary(BaseModel):
    model_config = ConfigDict(extra="allow")

    chembl_id: str = Field(examples=["CHEMBL25"])
    pref_name: str | None = Field(None, examples=["ASPIRIN"])
    canonical_smiles: str = Field(description="The full molecule, salts included.")
    parent_smiles: str | None = Field(None, description="Salts stripped: what searches match.")
    first_approval: int | None = None
    molecule_type: str | None = None


class Compound(BaseModel):
    chembl_id: str = Field(examples=["CHEMBL25"])
    pref_name: str | None = Field(None, examples=["ASPIRIN"])
    first_approval: int | None = None
    molecule_type: str | None = None
    molecule_structures: MoleculeStructures
    molecule_properties: PropertyPanel


class CompoundMatch(CompoundSummary):
    match: str = Field(
        description="How it matched: id, inchikey, parent_inchikey, pref_name, "
        "synonym, structure, or fuzzy (a suggestion)."
    )
    score: float = Field(description="100 for exact matches; the fuzzy score otherwise.")


class ResolveResponse(BaseModel):
    query: str
    kind: str = Field(description="How the query was read: id, inchikey, name or smiles.")
    results: list[CompoundMatch] = Field(description="Exact matches first, then suggestions.")
    molecule: dict[str, Any] | None = Field(
        None, description="For a SMILES query: its canonical form, found in the library or not."
    )


class PropertiesRequest(RequestBody):
    smiles: str | None = Field(None, examples=["CC(=O)Oc1ccccc1C(=O)O"])
    chembl_id: str | None = Field(None, examples=["CHEMBL25"])

    @model_validator(mode="after")
    def _exactly_one(self) -> PropertiesRequest:
        if (self.smiles is None) == (self.chembl_id is None):
            raise ValueError("send exactly one of 'smiles' or 'chembl_id'")
        return self


class PropertiesResponse(BaseModel):
    chembl_id: str | None = None
    pref_name: str | None = None
    molecule_structures: MoleculeStructures
    molecule_properties: PropertyPanel


class SimilarityRequest(RequestBody):
    query: str = Field(description="A ChEMBL ID, a name or a SMILES.", examples=["ibuprofen"])
    threshold: float = Field(0.7, ge=0.0, le=1.0, description="Minimum Tanimoto, 0 to 1.")
    top_k: int | None = Field(None, ge=1, description="Keep only the k most similar.")
    limit: int = Field(20, ge=1, description="Page size.")
    offset: int = Field(0, ge=0, description="Page start.")


class SimilarityHit(CompoundSummary):
    similarity: float = Field(description="Tanimoto coefficient, Morgan r=2, 2048 bits.")


class SimilarityResponse(BaseModel):
    query: str
    query_compound: CompoundMatch | None
    query_smiles: str = Field(description="The parent structure that was searched with.")
    threshold: float
    top_k: int | None
    total: int = Field(description="Hits above the threshold (within top_k).")
    limit: int
    offset: int
    results: list[SimilarityHit]


class SubstructureRequest(RequestBody):
    smarts: str | None = Field(None, examples=["S(=O)(=O)N"])
    smiles: str | None = None
    limit: int = Field(100, ge=1, description="Most hits to return.")
    chirality: bool = Field(False, description="Match stereochemistry too.")

    @model_validator(mode="after")
    def _exactly_one(self) -> SubstructureRequest:
        if (self.smarts is None) == (self.smiles is None):
            raise ValueError("send exactly one of 'smarts' or 'smiles'")
        return self


class SubstructureResponse(BaseModel):
    query: str
    limit: int
    count: int
    truncated: bool = Field(description="More compounds match than 'limit'.")
    hits: list[CompoundSummary]


class StandardizeRequest(RequestBody):
    smiles: str | None = Field(None, examples=["CC(=O)Oc1ccccc1C(=O)[O-].[Na+]"])
    molblock: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> StandardizeRequest:
        if (self.smiles is None) == (self.molblock is None):
            raise ValueError("send exactly one of 'smiles' or 'molblock'")
        return self


class Penalty(BaseModel):
    score: int = Field(description="2 (minor) to 7 (ChEMBL would reject).")
    message: str


class StandardizeResponse(BaseModel):
    standardized_smiles: str
    standardized_molblock: str
    parent_smiles: str
    parent_molblock: str
    salts_removed: bool
    excluded: bool
    penalties: list[Penalty]
    max_penalty: int


class BatchRequest(RequestBody):
    ids: list[str] | None = Field(None, max_length=MAX_LIST, examples=[["CHEMBL25", "CHEMBL521"]])
    smiles: list[str] | None = Field(None, max_length=MAX_LIST)

    @model_validator(mode="after")
    def _exactly_one(self) -> BatchRequest:
        if (self.ids is None) == (self.smiles is None):
            raise ValueError("send exactly one of 'ids' or 'smiles'")
        return self


class BatchError(BaseModel):
    error: str
    detail: str


class BatchItem(BaseModel):
    input: str
    ok: bool
    result: dict[str, Any] | None = None
    error: BatchError | None = None


class BatchResponse(BaseModel):
    count: int
    succeeded: int
    failed: int
    results: list[BatchItem]


class QueryRequest(RequestBody):
    """A plain-English question, with how to run it."""

    query: str = Field(
        min_length=1,
        max_length=100_000,
        description="The question (CHEMAGENT_MAX_QUERY_LENGTH caps it, 2000 by default).",
        examples=["Which has higher LogP: aspirin or ibuprofen?"],
    )
    session_id: str | None = Field(
        None,
        max_length=128,
        description="Continue a conversation: follow-ups ('what's its logP?') refer to the "
        "last exchanges of this session. Omit to start one; the response says its id.",
    )
    parallel: bool = Field(True, description="Run independent steps concurrently.")
    max_workers: int | None = Field(
        None,
        ge=1,
        le=256,
        description="Most steps running at once (at most CHEMAGENT_MAX_WORKERS; default: it).",
    )
    verbose: bool = Field(False, description="Add execution metrics to the response.")


class QueryStep(BaseModel):
    node: str
    kind: str
    label: str
    status: Literal["ok", "error", "skipped", "timeout"]
    seconds: float
    cache: Literal["l1", "l2", "miss", "stale"] | None = Field(
        None,
        description="Where the result came from: this worker's cache (l1), the shared "
        "Redis cache (l2), computed (miss) or served past its TTL (stale); null if not run.",
    )
    error: dict[str, Any] | None = None


class QueryResponse(BaseModel):
    """The answer to a query: what was understood, what ran, and the answer."""

    query: str
    session_id: str = Field(description="Send it back with the next question for follow-ups.")
    trace_id: str | None = Field(
        None, description="The trace id (W3C, 32 hex digits), also in x-trace-id."
    )
    intent: dict[str, Any] = Field(
        description="What the question asks: kind (lookup, properties, compare, similarity, "
        "substructure, filter, batch, workflow, targets, out_of_scope, unknown), compounds, "
        "properties, conditions, threshold, top_k, direction, rank_by, substructure, steps, "
        "errors, confidence, and source (rules or llm)."
    )
    entities: list[dict[str, Any]] = Field(
        description="Every entity found in the text: kind, text, normalised value, offsets."
    )
    plan: dict[str, Any] | None = Field(
        description="The DAG of steps: nodes (id, kind, label, input, params, depends_on), "
        "output and layers of independent nodes. Null when nothing was run."
    )
    status: Literal["ok", "partial", "failed", "rejected"] = Field(
        description="ok; partial (answered, but some steps failed: see problems); failed; "
        "rejected (nothing run: out of scope or not understood)."
    )
    answer: str = Field(
        description="The answer in words, numbers with units.",
        examples=["Ibuprofen (CHEMBL521) has the higher ALogP: 3.07 vs 1.31 for aspirin."],
    )
    result: Any = Field(description="The structured result; its shape depends on intent.kind.")
    problems: list[str] = Field(description="What could not be done, one sentence each.")
    steps: list[QueryStep] = Field(description="Every node of the plan and how it ended.")
    metrics: dict[str, Any] | None = Field(
        None,
        description="With verbose: wall_seconds, serial_seconds (sum of step times), speedup, "
        "parallelization_ratio, steps_run, steps_cached, steps_failed, steps_skipped, "
        "layers, max_workers, parallel.",
    )


class QueryError(ErrorBody):
    """A query that could not be answered: the error, plus what was understood."""

    model_config = ConfigDict(extra="allow")

    answer: str | None = Field(None, description="The same explanation, as the answer text.")
    intent: dict[str, Any] | None = None
