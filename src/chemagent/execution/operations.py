"""Operations: one async function per REST use case, each a small plan of steps.

Routes call exactly one of these. Every piece of work goes through
:meth:`StepRunner.run`; nothing here touches RDKit, FPSim2 or the web framework.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from chemagent.errors import ChemAgentError, CompoundNotFound, InvalidInput
from chemagent.execution.resolved import search_smiles
from chemagent.execution.resolved import suggestions as did_you_mean
from chemagent.execution.runner import StepRunner
from chemagent.execution.step import Step

# Characters that occur in SMILES but not in drug names: a query with one of them and no
# name match was meant as SMILES, so it gets the parser's explanation (422), not a 404.
_SMILES_LIKE = re.compile(r"[()\[\]=#@+\\/%0-9]")
_ID_LIKE = re.compile(r"^[A-Za-z]+[_-]?\d+$")  # CHEMBL25, MOL12: an unknown ID is a 404


class Operations:
    """The REST use cases over one runner (built once per app)."""

    def __init__(
        self, runner: StepRunner, *, max_batch: int, max_results: int, batch_concurrency: int = 8
    ) -> None:
        self.runner = runner
        self.max_batch = max_batch
        self.max_results = max_results
        self.batch_concurrency = batch_concurrency

    async def canonical(self, smiles: str, what: str = "SMILES", *, complete: bool = True) -> str:
        """Validate ``smiles`` and return its canonical form (the ``parse`` step).

        ``complete=False`` lets wildcard atoms through (drawings of R-group structures).
        """
        parsed = await self.runner.run(
            Step.of("parse", smiles.strip(), what=what, complete=None if complete else False)
        )
        return str(parsed["smiles"])

    async def compound(self, chembl_id: str) -> dict[str, Any]:
        """The library record of ``chembl_id`` with its property panel."""
        record: dict[str, Any] = await self.runner.run(
            Step.of("compound", chembl_id.strip().upper())
        )
        if record.get("molecule_properties") is None:  # an index built with --fast
            computed = await self.runner.run(
                Step.of("properties", record["molecule_structures"]["canonical_smiles"])
            )
            record = {**record, "molecule_properties": computed["molecule_properties"]}
        return record

    async def resolve(self, query: str, mode: str = "auto") -> dict[str, Any]:
        """Compounds matching an ID, name, InChIKey or SMILES (exact first, then fuzzy)."""
        result: dict[str, Any] = await self.runner.run(
            Step.of("resolve", query.strip(), **{"as": mode})
        )
        return result

    async def properties_of_smiles(self, smiles: str) -> dict[str, Any]:
        """The property panel of any molecule."""
        canonical = await self.canonical(smiles)
        result: dict[str, Any] = await self.runner.run(Step.of("properties", canonical))
        return {"chembl_id": None, **result}

    async def properties_of_compound(self, chembl_id: str) -> dict[str, Any]:
        """The property panel of a library compound."""
        record = await self.compound(chembl_id)
        return {
            "chembl_id": record["chembl_id"],
            "pref_name": record.get("pref_name"),
            "molecule_structures": record["molecule_structures"],
            "molecule_properties": record["molecule_properties"],
        }

    async def query_smiles(self, query: str) -> tuple[str, dict[str, Any] | None]:
        """A search query (ID, name or SMILES) -> (SMILES to search with, matched compound)."""
        resolved = await self.resolve(query)
        smiles = search_smiles(resolved)
        if smiles is not None:
            return smiles, (resolved["matches"] or [None])[0]
        if resolved["kind"] == "inchikey":
            raise CompoundNotFound(
                f"No compound with InChIKey '{query.strip().upper()}'. "
                + self.runner.context.not_found_hint()
            )
        suggestions = did_you_mean(resolved)
        if _ID_LIKE.match(query.strip()) and not suggestions:
            raise CompoundNotFound(
                f"No compound with ID '{query.strip().upper()}'. "
                + self.runner.context.not_found_hint()
            )
        meant_as_smiles = _SMILES_LIKE.search(query) and not any(c.isspace() for c in query.strip())
        if meant_as_smiles and not suggestions:  # say what is wrong with the SMILES (422)
            await self.canonical(query, what="query SMILES")
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        raise CompoundNotFound(
            f"'{query.strip()[:80]}' is not a known compound ID or name, nor valid SMILES."
            f"{hint} Send a ChEMBL ID, a drug name or a SMILES string.",
            suggestions=suggestions,
        )

    async def similarity(
        self, query: str, threshold: float, top_k: int | None, limit: int, offset: int
    ) -> dict[str, Any]:
        """Similar compounds, most similar first, paged by ``limit``/``offset``."""
        if offset + limit > self.max_results:
            raise InvalidInput(
                f"offset + limit is {offset + limit}; results are kept up to "
                f"{self.max_results}. Raise the threshold or lower top_k to narrow the search."
            )
        smiles, match = await self.query_smiles(query)
        found = await self.runner.run(
            Step.of("similarity", smiles, threshold=threshold, top_k=top_k)
        )
        hits = found["hits"]
        return {
            "query": query,
            "query_compound": match,
            "query_smiles": found["query_smiles"],
            "threshold": threshold,
            "top_k": top_k,
            "total": found["total"],
            "limit": limit,
            "offset": offset,
            "results": hits[offset : offset + limit],
        }

    async def substructure(
        self, query: str, limit: int, chirality: bool, fmt: str = "smarts"
    ) -> dict[str, Any]:
        """Compounds that contain ``query`` (SMARTS, or SMILES when ``fmt`` is smiles)."""
        found = await self.runner.run(
            Step.of("substructure", query.strip(), limit=limit, chirality=chirality, format=fmt)
        )
        return {"query": query.strip(), "limit": limit, "count": len(found["hits"]), **found}

    async def standardize(self, text: str, fmt: str) -> dict[str, Any]:
        """ChEMBL standardized and parent structures with checker penalties."""
        result: dict[str, Any] = await self.runner.run(
            Step.of("standardize", text if fmt == "molblock" else text.strip(), format=fmt)
        )
        return result

    async def depict_smiles(self, smiles: str, width: int, height: int) -> str:
        canonical = await self.canonical(smiles, complete=False)
        drawn = await self.runner.run(Step.of("depict", canonical, width=width, height=height))
        return str(drawn["svg"])

    async def depict_compound(self, chembl_id: str, width: int, height: int) -> str:
        record = await self.runner.run(Step.of("compound", chembl_id.strip().upper()))
        drawn = await self.runner.run(
            Step.of(
                "depict",
                record["molecule_structures"]["canonical_smiles"],
                width=width,
                height=height,
                title=record["chembl_id"],
            )
        )
        return str(drawn["svg"])

    async def batch(
        self, ids: Sequence[str] | None, smiles: Sequence[str] | None
    ) -> dict[str, Any]:
        """Compounds by ID or properties by SMILES, one result or error per item, in order."""
        if (ids is None) == (smiles is None):
            raise InvalidInput("Send exactly one of 'ids' or 'smiles'.")
        items = list(ids if ids is not None else smiles or [])
        if not items:
            raise InvalidInput("The batch is empty; send 1 or more items.")
        if len(items) > self.max_batch:
            raise InvalidInput(
                f"The batch has {len(items)} items; the limit is {self.max_batch}. "
                "Split it into smaller calls."
            )
        one = self.compound if ids is not None else self.properties_of_smiles
        # At most `batch_concurrency` items in flight: enough to keep every CPU thread busy,
        # few enough that one legal batch never trips the runner's load shedding.
        gate = asyncio.Semaphore(self.batch_concurrency)

        async def gated(item: str) -> dict[str, Any]:
            async with gate:
                return await one(item)

        outcomes = await asyncio.gather(*(gated(str(i)) for i in items), return_exceptions=True)
        results: list[dict[str, Any]] = []
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, ChemAgentError):
                results.append(
                    {
                        "input": item,
                        "ok": False,
                        "error": {"error": outcome.code, "detail": outcome.detail},
                    }
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append({"input": item, "ok": True, "result": outcome})
        failed = sum(not r["ok"] for r in results)
        return {
            "count": len(results),
            "succeeded": len(results) - failed,
            "failed": failed,
            "results": results,
        }
