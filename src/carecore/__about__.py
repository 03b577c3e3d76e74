"""The carecore version (read by the build backend and by ``carecore.__version__``)."""

from __future__ import annotations

__version__ = "0.1.0"
