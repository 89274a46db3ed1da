"""ledger: a small double-entry-free ledger service (an example of *a team's own system*).

It is deliberately unlike the platform's bundled demo: the standard library's
``http.server.ThreadingHTTPServer`` instead of FastAPI/uvicorn, Redis (spoken over a plain socket
with the tiny RESP client of :mod:`ledger.store`) instead of SQLite/PostgreSQL, its own readiness
(``/up``) and liveness (``/healthz``) paths. It imports nothing from the platform that tests it.

Modules: :mod:`ledger.server` (the HTTP service), :mod:`ledger.store` (Redis over RESP, the key
layout), :mod:`ledger.model` (validation and ledger math, shared by the service, the benchmarks
and the checks), :mod:`ledger.bench` (benchmark factories), :mod:`ledger.checks` (checks after a
fault, and a scratch store).
"""

__version__ = "0.1.0"
