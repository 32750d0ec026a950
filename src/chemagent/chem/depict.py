"""SVG depictions with RDKit's MolDraw2D."""

from __future__ import annotations

from typing import Any

from rdkit import Chem
from rdkit.Chem.Draw import rdMolDraw2D

from chemagent.chem.quiet import quiet_rdkit


def svg(mol: Chem.Mol, width: int = 300, height: int = 300, *, title: str | None = None) -> str:
    """Draw ``mol`` as a standalone SVG document.

    Args:
        mol: the molecule (2D coordinates are computed when missing).
        width, height: canvas size in pixels.
        title: optional legend drawn under the structure.
    """
    with quiet_rdkit():
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
        options: Any = drawer.drawOptions()
        options.clearBackground = True
        options.addStereoAnnotation = True
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, Chem.Mol(mol), legend=title or "")
        drawer.FinishDrawing()
        text: str = drawer.GetDrawingText()
    return text
