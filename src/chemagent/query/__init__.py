"""Plain-English queries: intent parsing, entity extraction, planning, formatting.

Pure Python: no web framework, no Redis, no RDKit (SMILES are recognised by shape here and
validated by the ``parse``/``resolve`` steps when the plan runs).
"""
