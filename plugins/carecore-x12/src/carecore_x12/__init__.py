"""carecore-x12: a month's carecore claims as an ASC X12 837P (005010X222A1) file.

>>> from carecore_x12 import IMPLEMENTATION
>>> IMPLEMENTATION
'005010X222A1'
"""

from __future__ import annotations

from carecore_x12.writer import IMPLEMENTATION, X12ClaimWriter, render_837p

__all__ = ["IMPLEMENTATION", "X12ClaimWriter", "render_837p"]
