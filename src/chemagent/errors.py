"""The one error hierarchy. ``api/`` maps it to HTTP status codes in one place.

::

    ChemAgentError                      500 internal
    ├── UserInputError                  4xx: the caller can fix it; the message says how
    │   ├── InvalidInput                422 invalid_input (a parameter out of range, ...)
    │   │   └── InvalidMolecule         422 invalid_molecule (SMILES/SMARTS/molblock)
    │   ├── NotFound                    404 not_found
    │   │   └── CompoundNotFound        404 compound_not_found (with suggestions)
    │   ├── PayloadTooLarge             413 payload_too_large
    │   ├── Unauthorized                401 unauthorized (with WWW-Authenticate: Bearer)
    │   ├── Forbidden                   403 forbidden
    │   └── Conflict                    409 conflict
    │       └── WarmInProgress          409 warm_in_progress
    └── ServiceError                    5xx: a dependency or a limit of ours
        ├── StepTimeout                 504 step_timeout
        ├── Overloaded                  503 overloaded
        └── UpstreamUnavailable         503 upstream_unavailable

The domain raises these; nothing below ``api/`` raises an HTTP exception.
"""

from __future__ import annotations


class ChemAgentError(Exception):
    """Base class. ``code`` is the stable machine-readable name; ``status`` the HTTP status."""

    code = "internal"
    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UserInputError(ChemAgentError):
    """The request cannot be served as sent; ``detail`` tells the caller what to change."""

    code = "bad_request"
    status = 400


class InvalidInput(UserInputError):
    code = "invalid_input"
    status = 422


class InvalidMolecule(InvalidInput):
    code = "invalid_molecule"


class NotFound(UserInputError):
    code = "not_found"
    status = 404


class CompoundNotFound(NotFound):
    code = "compound_not_found"

    def __init__(self, detail: str, suggestions: list[str] | None = None) -> None:
        super().__init__(detail)
        self.suggestions = suggestions or []


class PayloadTooLarge(UserInputError):
    code = "payload_too_large"
    status = 413


class Unauthorized(UserInputError):
    code = "unauthorized"
    status = 401


class Forbidden(UserInputError):
    """The caller may not do this here, whatever credentials it sends (e.g. admin calls
    on a server without an admin token)."""

    code = "forbidden"
    status = 403


class Conflict(UserInputError):
    """The request clashes with work already under way; retry when it has finished."""

    code = "conflict"
    status = 409


class WarmInProgress(Conflict):
    code = "warm_in_progress"


class ServiceError(ChemAgentError):
    code = "service_error"
    status = 503


class StepTimeout(ServiceError):
    code = "step_timeout"
    status = 504


class Overloaded(ServiceError):
    code = "overloaded"
    status = 503


class UpstreamUnavailable(ServiceError):
    code = "upstream_unavailable"
    status = 503
