"""Sphinx configuration for the carecore documentation.

Build with::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import re

# Import hypothesis before autodoc imports carecore.testing.strategies. Importing
# that module first runs hypothesis' entry points while the module is only half
# initialised, and loading ``_register_type_strategies`` then fails with a
# circular-import AttributeError. With hypothesis already imported, the entry
# point runs to completion before carecore.testing.strategies is read.
import hypothesis  # noqa: F401

from carecore import __version__

project = "carecore"
author = "carecore maintainers"
copyright = "carecore maintainers"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# -- MyST -------------------------------------------------------------------

myst_enable_extensions = ["colon_fence"]
# Give "## carecore demo"-style headings stable anchors for cross-links.
myst_heading_anchors = 3

# -- autodoc ----------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"


def _tidy_signature(
    app: object,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    """Show carecore.errors' "no value given" sentinel by name, not as an address.

    (``autodoc_preserve_defaults`` would do it too, but it turns the defaults of
    every attrs-generated ``__init__`` into ``attr_dict['...'].default``.)
    """
    if signature:
        signature = re.sub(r"<object object at 0x[0-9a-f]+>", "_MISSING", signature)
    return signature, return_annotation


def setup(app: object) -> None:
    """Connect the signature clean-up above."""
    app.connect("autodoc-process-signature", _tidy_signature)  # type: ignore[attr-defined]

# -- doctest ----------------------------------------------------------------

# Only the explicit ``{doctest}`` / ``{testcode}`` directives in the pages are
# run by the doctest builder. Docstring examples pulled in by autodoc rely on
# their module's globals, which the doctest builder does not provide; they are
# run where they live, by ``pytest --doctest-modules src/carecore``.
doctest_test_doctest_blocks = ""

# -- HTML -------------------------------------------------------------------

html_theme = "furo"
html_title = f"carecore {release}"
