"""The months with device data of a close, in one process: the engine against the device memo.

Usage: python bench/device_months.py DATA_DIR [--memo] [--month YYYY-MM]

DATA_DIR holds the patients.csv and events.csv of bench/gen_close.py. The
months that are not time-only (in its data, those with device readings) are
closed as the reference close closes them: their rows read into events,
evaluated by the engine or, with ``--memo``, through
``FastClose.evaluate_device`` (the engine for the months it declines), and
their text rendered. The CPU seconds of that step are printed.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from carecore.billing import _close as close
from carecore.billing import evaluate
from carecore.billing._fast import FastClose
from carecore.billing.cms import cms_rule_set
from carecore.billing.facts import BillingFacts, TimeFact
from carecore.model import ServicePeriod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data", type=Path)
    parser.add_argument("--memo", action="store_true")
    parser.add_argument("--month", default="2026-03")
    args = parser.parse_args()
    year, mon = (int(x) for x in args.month.split("-"))
    month = ServicePeriod.month(year, mon)
    rules = cms_rule_set(year)
    events_csv = args.data / "events.csv"
    patients, _ = close.read_patients(args.data / "patients.csv")
    light = close._LightParser()  # noqa: SLF001 - the reference close's own reader
    groups = [
        (patients[pid], rows)
        for pid, rows in close._groups(events_csv)  # noqa: SLF001
        if light.time_only(rows, patients[pid]) is None
    ]
    fast = FastClose(rules, month)
    light = close._LightParser()  # noqa: SLF001 - a fresh one: its cache is part of the cost
    writer = close.CloseWriter(None, month, rules)
    started = time.process_time()
    for row, rows in groups:
        events = []
        for line, cells in rows:
            event, problems = light.event(events_csv, line, cells, row.practitioner.id)
            if event is not None and not problems:
                events.append(event)
        facts = BillingFacts(
            period=month,
            setting=row.setting,
            practitioners=[row.practitioner],
            patient=row.patient,
            events=events,
        )
        result = fast.evaluate_device(facts) if args.memo else None
        log = tuple(
            (e.date, e.minutes, e.role, e.family, e.credential, e.interactive, e.practitioner)
            for e in facts.events
            if isinstance(e, TimeFact)
        )
        writer.render(
            close.PatientMonth(
                row=row,
                period=month,
                result=result if result is not None else evaluate(facts, rules),
                time_log=log,
            )
        )
    spent = time.process_time() - started
    print(
        f"{len(groups)} device months, {'memo' if args.memo else 'engine'}: {spent:.2f} s CPU"
        f" ({fast.device_hits} from the memo, {fast.device_misses} forms)"
    )


if __name__ == "__main__":
    main()
