"""The pure record steps: compare, keep, rank, panels, targets (their error paths too)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from chemagent.errors import InvalidInput, UpstreamUnavailable
from chemagent.steps.compare import compare
from chemagent.steps.context import StepContext
from chemagent.steps.keep import keep
from chemagent.steps.panels import panels
from chemagent.steps.rank import rank
from chemagent.steps.records import records_of
from chemagent.steps.targets import targets


def rec(ident: str, **props: float) -> dict[str, Any]:
    return {"chembl_id": ident, "pref_name": ident.lower(), "molecule_properties": props}


def js(value: Any) -> str:
    return orjson.dumps(value).decode()


def test_records_of_accepts_lists_and_wrappers() -> None:
    assert records_of(js([rec("A")]))[0]["chembl_id"] == "A"
    assert records_of(js({"records": [rec("B")]}))[0]["chembl_id"] == "B"
    assert records_of(js({"hits": [rec("C")]}))[0]["chembl_id"] == "C"
    with pytest.raises(InvalidInput, match="not JSON"):
        records_of("{")
    with pytest.raises(InvalidInput, match="list of compound records"):
        records_of(js([1, 2]))


def test_compare_orders_and_detects_ties(ctx: StepContext) -> None:
    out = compare(ctx, js([rec("A", alogp=1.0), rec("B", alogp=3.0)]), {"property": "alogp"})
    assert out["best"]["chembl_id"] == "B"
    assert out["tie"] is False
    low = compare(
        ctx,
        js([rec("A", alogp=1.0), rec("B", alogp=1.0)]),
        {"property": "alogp", "direction": "min"},
    )
    assert low["tie"] is True


@pytest.mark.parametrize(
    ("records", "params", "message"),
    [
        ([rec("A", alogp=1), rec("B", alogp=2)], {"property": "colour"}, "cannot be compared"),
        (
            [rec("A", alogp=1), rec("B", alogp=2)],
            {"property": "alogp", "direction": "up"},
            "direction",
        ),
        ([rec("A", alogp=1)], {"property": "alogp"}, "at least two"),
        ([rec("A", alogp=1), rec("B")], {"property": "alogp"}, "has no alogp"),
    ],
)
def test_compare_errors(
    ctx: StepContext, records: list[dict[str, Any]], params: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        compare(ctx, js(records), params)


def test_keep_drops_failing_and_missing(ctx: StepContext) -> None:
    records = [rec("A", mw_freebase=200), rec("B", mw_freebase=400), rec("C")]
    out = keep(ctx, js(records), {"conditions": "mw_freebase<300"})
    assert [r["chembl_id"] for r in out["records"]] == ["A"]
    assert out["dropped"] == 2


def test_rank_orders_puts_missing_last_and_cuts(ctx: StepContext) -> None:
    records = [rec("A", qed_weighted=0.2), rec("B"), rec("C", qed_weighted=0.9)]
    out = rank(ctx, js(records), {"property": "qed_weighted"})
    assert [r["chembl_id"] for r in out["records"]] == ["C", "A", "B"]
    low = rank(ctx, js(records), {"property": "qed_weighted", "direction": "min", "top_k": 1})
    assert [r["chembl_id"] for r in low["records"]] == ["A"]
    with pytest.raises(InvalidInput, match="Cannot rank"):
        rank(ctx, js(records), {"property": "smell"})


def test_panels_by_ids_and_by_hits(ctx: StepContext) -> None:
    out = panels(ctx, js(["CHEMBL25", "CHEMBL0"]), {})
    assert [r["chembl_id"] for r in out["records"]] == ["CHEMBL25"]
    assert out["missing"] == ["CHEMBL0"]
    hits = panels(ctx, js({"hits": [{"chembl_id": "CHEMBL521"}]}), {})
    assert hits["records"][0]["molecule_properties"]["alogp"] == pytest.approx(3.07)


def test_panels_refuses_more_than_max_results(ctx: StepContext) -> None:
    small = StepContext(library=ctx.library, limits=ctx.limits, max_results=1)
    with pytest.raises(InvalidInput, match="limit is 1"):
        panels(small, js(["CHEMBL25", "CHEMBL521"]), {})


def test_targets_need_the_upstream(ctx: StepContext) -> None:
    with pytest.raises(UpstreamUnavailable, match="CHEMAGENT_CHEMBL_URL"):
        targets(ctx, "CHEMBL25", {})
    online = StepContext(library=ctx.library, limits=ctx.limits, online=True)
    with pytest.raises(UpstreamUnavailable, match="not available in this version"):
        targets(online, "CHEMBL25", {})
