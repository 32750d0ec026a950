"""Answers to queries: the public API of ``chemagent.query.answers``, kept at its old path.

The code lives in ``chemagent.query.answers`` (one module per family of intent kinds);
importers of ``chemagent.query.formatter`` keep working unchanged.
"""

from chemagent.query.answers import *  # noqa: F403 (this path re-exports the package's API)
from chemagent.query.answers import __all__ as __all__
