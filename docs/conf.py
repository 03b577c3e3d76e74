"""Sphinx configuration for the carecore documentation.

Build and test with::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

# Import hypothesis before autodoc imports carecore.testing.strategies. Importing
# that module first makes hypothesis run its entry points while the module is
# only half initialised, and loading ``_register_type_strategies`` then fails
# with a circular-import AttributeError. With hypothesis imported first, the
# entry point runs to completion before carecore.testing.strategies is read.
import hypothesis.configuration

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

# No intersphinx: the docs must build offline, and with -W a failed inventory
# fetch would fail the build.

# -- MyST -------------------------------------------------------------------

myst_enable_extensions = ["colon_fence"]
# Stable anchors for headings such as "## carecore demo".
myst_heading_anchors = 3

# -- autodoc ----------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "description"

# -- doctest ----------------------------------------------------------------

# Only the ``{doctest}`` and ``{testcode}`` blocks in the pages run under the doctest
# builder. Docstring examples pulled in by autodoc rely on their module's
# globals, which the doctest builder does not provide; they run where they
# live, with ``pytest --doctest-modules src/carecore``.
doctest_test_doctest_blocks = ""
# The default flags include IGNORE_EXCEPTION_DETAIL, which would let an example
# pass whatever its error message says. carecore's messages are part of what
# the pages teach, so they are compared ("..." is still allowed).
doctest_default_flags = doctest.ELLIPSIS | doctest.DONT_ACCEPT_TRUE_FOR_1
# The property-testing how-to runs real hypothesis tests. Keep hypothesis' files
# under docs/_build rather than docs/.hypothesis, use no example database, and
# set no deadline (the example that first loads the ICD-10-CM tables is slow).
hypothesis.configuration.set_hypothesis_home_dir(Path(__file__).parent / "_build" / ".hypothesis")
# DOCS_DIR lets a page's hidden example read a file shipped next to it (the
# how-to's scenario file) wherever sphinx-build is started from.
doctest_global_setup = f"""
from hypothesis import settings as _hypothesis_settings
_hypothesis_settings.register_profile("carecore-docs", database=None, deadline=None)
_hypothesis_settings.load_profile("carecore-docs")
import pathlib as _pathlib
DOCS_DIR = _pathlib.Path({str(Path(__file__).resolve().parent)!r})
"""

# -- HTML -------------------------------------------------------------------

html_theme = "furo"
html_title = f"carecore {release}"


# -- signature clean-up -----------------------------------------------------


def _tidy_signature(
    app: Any,  # noqa: ARG001
    what: str,  # noqa: ARG001
    name: str,  # noqa: ARG001
    obj: object,  # noqa: ARG001
    options: object,  # noqa: ARG001
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None]:
    """Show carecore.errors' "no value given" sentinel by name, not by address.

    (``autodoc_preserve_defaults`` would do this too, but it also turns every
    default of an attrs-generated ``__init__`` into ``attr_dict['…'].default``.)
    """
    if signature:
        signature = re.sub(r"<object object at 0x[0-9a-f]+>", "_MISSING", signature)
    return signature, return_annotation


def _hookspec_types_are_protocols(app: Any, doctree: Any) -> None:  # noqa: ARG001
    """Point the type names in carecore.hookspecs at carecore.protocols.

    The hook specifications import their return types (``Store``, ``RuleSet``,
    ...) from :mod:`carecore.protocols` only for type checking, so autodoc sees
    the bare name. ``RuleSet`` is also a class of :mod:`carecore.billing.rules`,
    and a bare name with two targets is an ambiguous reference. This makes the
    reference say what the hookspecs module's own import says.
    """
    from sphinx.addnodes import pending_xref  # noqa: PLC0415

    from carecore import protocols  # noqa: PLC0415

    for node in doctree.findall(pending_xref):
        if node.get("refdomain") != "py":
            continue
        module = node.get("py:module") or ""
        if module == "carecore.hookspecs" and node.get("reftarget") in protocols.__all__:
            node["reftarget"] = f"carecore.protocols.{node['reftarget']}"
        elif module.startswith("carecore.billing") and node.get("reftarget") == "RuleSet":
            # Inside carecore.billing, RuleSet is always the billing rule set.
            node["reftarget"] = "carecore.billing.rules.RuleSet"


def setup(app: Any) -> None:
    """Register the signature clean-up and the hookspec type references."""
    app.connect("autodoc-process-signature", _tidy_signature)
    app.connect("doctree-read", _hookspec_types_are_protocols)
