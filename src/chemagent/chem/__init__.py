"""Chemistry on RDKit. The only package that imports RDKit or the ChEMBL structure pipeline.

Bad molecules are values (``None``) inside this package; :func:`molecule.require_molecule`
turns them into :class:`~chemagent.errors.InvalidMolecule` with a sentence that says what
to fix.
"""

from rdkit import __version__ as RDKIT_VERSION

__all__ = ["RDKIT_VERSION"]
