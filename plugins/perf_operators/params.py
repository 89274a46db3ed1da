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


def param_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """One property of a pydantic JSON schema as Airflow ``Param`` keywords: an optional field
    (``anyOf [X, null]``) becomes ``type: ["null", X]`` (the 3.3 form requires a nullable type for a
    None default), ``enum`` gains None; ``title`` goes (the param's name is its title)."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "default", "anyOf")}
    members = prop.get("anyOf")
    if members:
        nullable = any(m.get("type") == "null" for m in members)
        others = [m for m in members if m.get("type") != "null"]
        if len(others) != 1:
            raise TypeError(f"option schema {prop.get('title')!r}: a union of {others} has no form field")
        inner = {k: v for k, v in others[0].items() if k != "title"}
        schema = {**inner, **schema}
        if nullable:
            schema["type"] = ["null", inner["type"]]
            if "enum" in schema:
                schema["enum"] = [None, *schema["enum"]]
    return schema


def kind_params(model: Any, *, choices: dict[str, list[Any]] | None = None) -> dict[str, Param]:
    """A kind's trigger params, generated from its options model (``perf_tasks.kinds.options``):
    one Param per field, with the field's default, type, bounds, description and section
    (``json_schema_extra``). ``choices``: the allowed items of a list option (from config, e.g.
    the scenario names), offered as ``enum`` and ``examples``."""
    props = model.model_json_schema()["properties"]
    out = {}
    for name, field in model.model_fields.items():
        schema = param_schema(props[name])
        if choices and name in choices:
            schema["items"] = {**schema.get("items", {}), "enum": list(choices[name])}
            schema["examples"] = list(choices[name])
        default = field.default
        if isinstance(default, tuple):
            default = list(default)
        out[name] = Param(default, **schema)
    return out
