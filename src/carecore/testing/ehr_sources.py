"""The EHR-source contract: what every ``carecore_ehr_sources()`` source must do.

A source (:class:`~carecore.protocols.EhrSource`) reads a location (a file,
a folder, a server URL) and yields carecore model values. The contract adds
what an import relies on:

- **paging**: a location read in several pages (a server's search pages, a
  folder of files) yields every record once;
- **duplicates**: a record the location holds twice is stored once;
- **bad records**: a record the source cannot read is yielded as an
  :class:`~carecore.service.ImportRefusal` naming it (never silently
  dropped), and the rest still imports; a record it reads and deliberately
  does not keep may be yielded as an :class:`~carecore.service.ImportSkip`
  (``carecore import`` counts them), which the contract leaves aside;
- **idempotent re-import**: reading and importing the same location again
  yields the same values and stores nothing new.

Subclass :class:`EhrSourceContract` in a ``Test*`` class and override the
``source`` and ``samples`` fixtures::

    class TestMySource(EhrSourceContract):
        @pytest.fixture
        def source(self):
            return MySource(page_size=2)

        @pytest.fixture
        def samples(self, tmp_path):
            return EhrSourceSamples(paged=..., paged_values=7, duplicated=..., bad=..., bad_refusals=1)

A source that must match what it reads against the store (an HL7 v2 feed
names patients by the hospital's identifiers) may also offer
``import_into(program, location, *, refused=list) -> BulkResult`` (what it
stored and what it found stored already, each refusal appended to
*refused*); ``carecore import`` then uses it, and the contract checks it is
idempotent too.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import pytest
from attrs import frozen

from carecore.protocols import EhrSource, offers
from carecore.service import CareProgram, ImportRefusal, ImportSkip
from carecore.storage import kind_for

if TYPE_CHECKING:
    from collections.abc import Iterator

    from carecore.protocols import ImportingSource

__all__ = ["EhrSourceContract", "EhrSourceSamples", "split_refusals", "stored_counts"]


@frozen(kw_only=True)
class EhrSourceSamples:
    """Locations a source's contract test reads, and what each must give.

    ``paged``: a location the source reads in more than one page, holding
    ``paged_values`` distinct records. ``duplicated``: a location holding at
    least one record twice. ``bad``: a location holding ``bad_refusals``
    records the source cannot read among good ones.
    """

    paged: str
    paged_values: int
    duplicated: str
    bad: str
    bad_refusals: int


def split_refusals(values: object) -> tuple[list[Any], list[ImportRefusal]]:
    """What a source yielded, as (model values, refusals); records it does not use are left out.

    >>> split_refusals([ImportRefusal(where="x", reason="y"), ImportSkip(where="z", reason="w")])
    ([], [ImportRefusal(where='x', reason='y')])
    """
    records: list[Any] = []
    refused: list[ImportRefusal] = []
    for value in values:  # type: ignore[attr-defined]
        if not isinstance(value, ImportSkip):
            (refused if isinstance(value, ImportRefusal) else records).append(value)
    return records, refused


def stored_counts(program: CareProgram, kinds: set[type]) -> dict[str, int]:
    """How many records of each kind the program's store holds."""
    with program.transaction("contract check") as tx:
        return {cls.__name__: len(tx.all(cls)) for cls in kinds}


def _keys(records: list[Any]) -> Counter[tuple[str, tuple[Any, ...]]]:
    return Counter((type(r).__name__, kind_for(type(r)).key_of(r)) for r in records)


class EhrSourceContract:
    """The contract suite; override :meth:`source` and :meth:`samples`."""

    @pytest.fixture
    def source(self) -> EhrSource:
        """The source under test."""
        raise NotImplementedError(
            "override the 'source' fixture in your TestXxx(EhrSourceContract)"
        )

    @pytest.fixture
    def samples(self) -> EhrSourceSamples:
        """The locations the contract reads."""
        raise NotImplementedError(
            "override the 'samples' fixture in your TestXxx(EhrSourceContract)"
        )

    @pytest.fixture
    def program(self) -> Iterator[CareProgram]:
        """The program records are imported into (an empty in-memory store by default)."""
        with CareProgram.open("memory://", actor="ehr-source-contract") as program:
            yield program

    def test_it_is_an_ehr_source_that_reads_its_samples(
        self, source: EhrSource, samples: EhrSourceSamples
    ) -> None:
        """An EhrSource with an id that says it can read each sample."""
        assert isinstance(source, EhrSource)
        assert source.id.strip()
        for location in (samples.paged, samples.duplicated, samples.bad):
            assert source.can_read(location), location

    def test_paging_yields_every_record_once(
        self, source: EhrSource, samples: EhrSourceSamples
    ) -> None:
        """A location read page by page yields each record once, none refused."""
        records, refused = split_refusals(source.read(samples.paged))
        assert refused == []
        keys = _keys(records)
        assert [k for k, n in keys.items() if n > 1] == []
        assert len(keys) == samples.paged_values

    def test_reading_again_yields_the_same_values(
        self, source: EhrSource, samples: EhrSourceSamples
    ) -> None:
        """Reading is deterministic: the same values, in the same order."""
        assert list(source.read(samples.paged)) == list(source.read(samples.paged))

    def test_a_duplicated_record_is_stored_once(
        self, source: EhrSource, samples: EhrSourceSamples, program: CareProgram
    ) -> None:
        """A record the location holds twice is stored once."""
        records, refused = split_refusals(source.read(samples.duplicated))
        assert refused == []
        keys = _keys(records)
        problems: list[ImportRefusal] = []
        result = program.import_records(records, reason="contract", refused=problems)
        assert problems == []
        assert result.added == len(keys)
        by_kind = Counter(name for name, _ in keys)
        assert stored_counts(program, {type(r) for r in records}) == dict(by_kind)

    def test_bad_records_are_refused_by_name_and_the_rest_imports(
        self, source: EhrSource, samples: EhrSourceSamples, program: CareProgram
    ) -> None:
        """Each bad record is an ImportRefusal naming it; the good ones import."""
        records, refused = split_refusals(source.read(samples.bad))
        assert len(refused) == samples.bad_refusals
        for refusal in refused:
            assert refusal.where.strip()
            assert refusal.reason.strip()
        assert records, "the good records of the location are still read"
        problems: list[ImportRefusal] = []
        result = program.import_records(records, reason="contract", refused=problems)
        assert problems == []
        assert result.added == len(_keys(records))

    def test_importing_again_stores_nothing_new(
        self, source: EhrSource, samples: EhrSourceSamples, program: CareProgram
    ) -> None:
        """A second import of the same location adds nothing and skips everything."""
        first, _ = split_refusals(source.read(samples.paged))
        once = program.import_records(first, reason="contract")
        kinds = {type(r) for r in first}
        before = stored_counts(program, kinds)
        again, _ = split_refusals(source.read(samples.paged))
        twice = program.import_records(again, reason="contract")
        assert (twice.added, twice.skipped) == (0, once.added + once.skipped)
        assert stored_counts(program, kinds) == before

    def test_import_into_is_idempotent_when_the_source_offers_it(
        self, source: EhrSource, samples: EhrSourceSamples, program: CareProgram
    ) -> None:
        """A source's own import_into stores nothing new the second time and refuses bad records."""
        if not offers(source, "import_into"):
            pytest.skip("the source offers no import_into; carecore import uses read()")
        import_into = cast("ImportingSource", source).import_into
        refused: list[ImportRefusal] = []
        once = import_into(program, samples.paged, refused=refused)
        assert refused == []
        assert once.added > 0
        records, _ = split_refusals(source.read(samples.paged))
        kinds = {type(r) for r in records}
        before = stored_counts(program, kinds)
        twice = import_into(program, samples.paged, refused=refused)
        assert refused == []
        assert (twice.added, twice.skipped) == (0, once.added + once.skipped)
        assert stored_counts(program, kinds) == before
        import_into(program, samples.bad, refused=refused)
        assert refused != []
