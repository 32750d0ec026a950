"""Admin authentication: ``Authorization: Bearer <CHEMAGENT_ADMIN_TOKEN>``.

``AdminDep`` is the app state, reachable only by a caller holding the admin token:

- the server has no admin token (``CHEMAGENT_ADMIN_TOKEN`` unset): 403 ``forbidden``,
  whatever the caller sends: admin endpoints are off;
- no ``Authorization: Bearer`` header, or the wrong token: 401 ``unauthorized`` with
  ``WWW-Authenticate: Bearer``.

Tokens are compared in constant time and never logged or echoed.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from chemagent.api.deps import StateDep
from chemagent.api.state import AppState
from chemagent.errors import Forbidden, Unauthorized

# auto_error=False: the sentences below replace FastAPI's "Not authenticated"; the scheme
# still puts the "Authorize" button on /docs.
_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="admin token",
    description="CHEMAGENT_ADMIN_TOKEN, sent as `Authorization: Bearer <token>`.",
)


def token_matches(given: str, expected: str) -> bool:
    """Whether ``given`` is ``expected``, in time independent of where they differ."""
    return secrets.compare_digest(given.encode(), expected.encode())


async def require_admin(
    request: Request,
    state: StateDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> AppState:
    """The app state, once the caller has shown the admin token.

    Raises:
        Forbidden: the server has no admin token configured.
        Unauthorized: no bearer token, or not the configured one.
    """
    configured = state.settings.admin_token
    if configured is None or not configured.get_secret_value():
        raise Forbidden(
            "Admin endpoints are disabled on this server: set CHEMAGENT_ADMIN_TOKEN and "
            "restart it to enable them."
        )
    if credentials is None:
        sent = "an Authorization header that is not a bearer token"
        if "authorization" not in request.headers:
            sent = "no Authorization header"
        raise Unauthorized(
            f"This endpoint needs the admin token; the request had {sent}. Send "
            "'Authorization: Bearer <CHEMAGENT_ADMIN_TOKEN>'."
        )
    if not token_matches(credentials.credentials, configured.get_secret_value()):
        raise Unauthorized(
            "The bearer token is not this server's admin token; send "
            "'Authorization: Bearer <CHEMAGENT_ADMIN_TOKEN>'."
        )
    return state


AdminDep = Annotated[AppState, Depends(require_admin)]
