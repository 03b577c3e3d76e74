"""What a researcher writes with the simulation and executor API, checked by mypy --strict."""

from __future__ import annotations

from decimal import Decimal

import attrs

from carecore.executors import Executor, get_executor, partition_of
from carecore.model import ServiceFamily
from carecore.simulation import (
    Interval,
    OutcomeModel,
    PopulationSpec,
    ProgramPolicy,
    StaffRole,
    Study,
    StudyResult,
    load_study,
    run_study,
)

study = Study(
    months=12,
    population=PopulationSpec(size=2000, medicare_share=0.4),
    policy=ProgramPolicy(
        families=(ServiceFamily.CCM, ServiceFamily.TCM),
        caseload_cap_per_fte=200,
        staff=(StaffRole(fte=2.0, loaded_cost_per_hour=Decimal("48.50")),),
    ),
    outcomes=OutcomeModel(admission_effect=0.9),
)
wider = attrs.evolve(study, policy=attrs.evolve(study.policy, caseload_cap_per_fte=250))
executor: Executor = get_executor("process", workers=2)
with executor:
    result: StudyResult = run_study(wider, replications=20, seed=1, executor=executor)
net: Interval = result.summary["net_revenue"]
low, high = net.low, net.high
rows: tuple[tuple[int, str, str, float], ...] = result.rows
shipped: Study = load_study("ccm-2015")
bucket: int = partition_of("patient-1", 8)
