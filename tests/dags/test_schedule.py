"""What unpausing does: the DAGs' first scheduled run is the next slot, never a past one.

Airflow 3.3 turns ``schedule="@daily"`` into a CronTriggerTimetable. With a start_date in the past
and catchup off, the scheduler's first run is the *latest past* slot, created the moment the DAG
is unpaused (observed on the native Celery stack: unpausing at 21:52 UTC started
``scheduled__<today>T00:00:00`` of both DAGs with their default params, and with
``max_active_runs=1`` a manual run queued behind it). ``run_immediately`` only counts without a
start_date, and ``False`` still picks the past slot within 10 % of the period (2.4 h after
midnight for a daily DAG). Hence no start_date and ``run_immediately=timedelta(0)``. The real
scheduler is checked in tests/dags/test_celery_stack.py.
"""
from __future__ import annotations

from unittest import mock

import pendulum
import pytest


def _first_run(dag, now):
    from airflow.serialization.serialized_objects import DagSerialization
    import airflow.timetables.trigger as trigger

    timetable = DagSerialization.from_dict(DagSerialization.to_dict(dag)).timetable  # as the scheduler has it
    with mock.patch.object(trigger, "utcnow", lambda: now):
        info = timetable.next_dagrun_info(last_automated_data_interval=None, restriction=_restriction(dag))
    return info.run_after


def _restriction(dag):
    from airflow.timetables.base import TimeRestriction

    return TimeRestriction(earliest=dag.start_date, latest=None, catchup=dag.catchup)


@pytest.mark.parametrize("dag_id, now, expected", [
    # just after a slot (inside the 10 % window that run_immediately=False would still run)
    ("perf_daily", pendulum.datetime(2026, 11, 29, 0, 30, tz="UTC"), pendulum.datetime(2026, 11, 30, tz="UTC")),
    ("perf_daily", pendulum.datetime(2026, 11, 29, 21, 52, tz="UTC"), pendulum.datetime(2026, 11, 30, tz="UTC")),
    ("perf_load_weekly", pendulum.datetime(2026, 11, 29, 3, 0, tz="UTC"), pendulum.datetime(2026, 12, 6, tz="UTC")),
    ("perf_load_weekly", pendulum.datetime(2026, 12, 2, 12, 0, tz="UTC"), pendulum.datetime(2026, 12, 6, tz="UTC")),
    ("perf_stress_monthly", pendulum.datetime(2026, 11, 29, 3, 0, tz="UTC"),
     pendulum.datetime(2026, 12, 1, 2, 0, tz="UTC")),
    ("perf_scalability_quarterly", pendulum.datetime(2026, 11, 29, 3, 0, tz="UTC"),
     pendulum.datetime(2027, 1, 1, tz="UTC")),
])
def test_unpausing_schedules_the_next_slot_not_a_past_one(dagbag, dag_id, now, expected):
    dag = dagbag.dags[dag_id]
    assert dag.start_date is None and dag.catchup is False
    assert _first_run(dag, now) == expected
