"""ChemAgent: a cheminformatics query service over a ChEMBL-derived compound library."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chemagent")
except PackageNotFoundError:  # pragma: no cover - only when run from a bare source tree
    __version__ = "0.0.0"
