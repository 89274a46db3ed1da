"""Params shared by the perf DAGs' trigger forms (one definition, one description)."""
from __future__ import annotations

from typing import Any

from airflow.sdk import Param

PROFILES = ["smoke", "standard", "full"]


def profile_param(description: str) -> Param:
    return Param("standard", type="string", enum=PROFILES,
                 values_display={"smoke": "smoke (seconds)", "standard": "standard (minutes)", "full": "full (long)"},
                 description=description)


def run_params() -> dict[str, Any]:
    """notify, promote_baseline and artifacts_url: how a run reports and where it stores."""
    return {
        "notify": Param(True, type="boolean", description="Send the Slack alert (otherwise outbox only)."),
        "promote_baseline": Param(False, type="boolean",
                                  description="Make this run the baseline for later comparisons if it succeeds."),
        # nullable with a None default: the 3.3 form treats every non-nullable param as required, so an
        # empty default would leave "Run Parameters" red and the Trigger button disabled
        "artifacts_url": Param(None, type=["null", "string"],
                               description="file:///path or s3://bucket/prefix; empty: $PERF_ARTIFACTS_URL "
                                           "or ./artifacts."),
    }
