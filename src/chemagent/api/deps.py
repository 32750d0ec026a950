"""Dependencies as types: ``OpsDep`` reads like what it is."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chemagent.api.state import AppState
from chemagent.execution.operations import Operations


def get_state(request: Request) -> AppState:
    state: AppState = request.state.chemagent
    return state


def get_operations(request: Request) -> Operations:
    return get_state(request).operations


StateDep = Annotated[AppState, Depends(get_state)]
OpsDep = Annotated[Operations, Depends(get_operations)]
