"""Fixtures for the plugin's tests: a migrated metadata DB, Airflow's auth manager (the simple one,
as ``make airflow`` runs it) and JWTs it issued, so the /perf-reports app is tested with the
auth manager's own dependencies, not a stub."""
from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def auth():
    """``auth.admin`` / ``auth.viewer`` / ``auth.nobody``: JWTs of an admin, a viewer (may read DAG
    runs) and a user without a role (may read nothing), from the auth manager itself."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.utils import db

    db.initdb()
    am = init_auth_manager()

    def jwt(name: str, role: str | None) -> str:
        return am.generate_jwt(SimpleAuthManagerUser(username=name, role=role))

    return SimpleNamespace(admin=jwt("admin", "admin"), viewer=jwt("viewer", "viewer"), nobody=jwt("nobody", None))
