"""Airflow 3 natively, without Docker: the same process topology as docker-compose.yaml.

    scheduler, dag-processor, api-server, triggerer and, with CeleryExecutor, N Celery workers
    (``airflow celery worker`` with distinct hostnames), all sharing one AIRFLOW_HOME, one JWT
    secret and one execution API URL, against a PostgreSQL database and a Redis broker.

Used by ``make airflow`` (``local``: LocalExecutor on SQLite) and ``make airflow-celery``
(foreground: Ctrl-C stops everything; the API server binds 127.0.0.1 unless ``--host`` /
``$AIRFLOW_BIND_HOST`` says otherwise; no log servers; the ``airflow_api`` connection for run notes)
and by the tests that run the DAGs on real Airflow processes (tests/dags/test_celery_stack.py on CeleryExecutor,
tests/ui/ on LocalExecutor with SQLite). Every process starts in its own process group, and
``Stack.stop`` (also on Ctrl-C, on an exception, and from ``with Stack(...)``) ends each group.

Only the standard library at import: Airflow imports ``hostname`` below in every process
(``[core] hostname_callable``) so that task instances name the worker that ran them, also when
two workers share one machine.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: the env var that names a worker; ``hostname()`` returns it (else the machine's FQDN)
HOSTNAME_ENV = "PERF_STACK_HOSTNAME"


def hostname() -> str:
    """``[core] hostname_callable`` of the stack: the worker's name (``worker1@host``), so the
    ``hostname`` of a task instance tells which of two workers on one machine ran it."""
    return os.environ.get(HOSTNAME_ENV) or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_url(db: str, *, host: str = "127.0.0.1", port: int = 5432, user: str = "postgres", password: str = "") -> str:
    """SQLAlchemy URL with the psycopg (3) driver, which serves both Airflow's sync and async engines."""
    auth = f"{user}:{password}" if password else user
    return f"postgresql+psycopg://{auth}@{host}:{port}/{db}"


def _pg_admin(url: str):
    import psycopg

    from sqlalchemy.engine import make_url

    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, password=u.password or None,
                           dbname="postgres", autocommit=True, connect_timeout=5), u.database


def pg_reachable(url: str) -> str:
    """'' when the server answers, else why not."""
    try:
        conn, _ = _pg_admin(url)
        conn.close()
        return ""
    except Exception as exc:  # noqa: BLE001 - any failure means: not usable here
        return f"{type(exc).__name__}: {exc}".strip()


def ensure_pg_database(url: str) -> bool:
    """Create the URL's database when missing; True when it was created."""
    conn, db = _pg_admin(url)
    with conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{db}"')
        return True


def drop_pg_database(url: str) -> None:
    conn, db = _pg_admin(url)
    with conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def redis_reachable(url: str) -> str:
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
        return ""
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}".strip()


def flush_redis_queue(url: str, queue: str) -> int:
    """Delete a Celery queue's keys (the queue, its priority lists, its binding) from the broker,
    leaving whatever else shares that Redis db alone; returns how many keys went."""
    import redis

    r = redis.Redis.from_url(url, socket_connect_timeout=3)
    keys = [k for k in r.scan_iter(match=f"*{queue}*", count=1000)]
    return r.delete(*keys) if keys else 0


@dataclass
class StackConfig:
    home: Path
    db_url: str                       # sync SQLAlchemy URL (sqlite:////abs or postgresql+psycopg://...)
    executor: str = "CeleryExecutor"  # or LocalExecutor
    broker_url: str = ""              # redis://127.0.0.1:6379/N (CeleryExecutor)
    port: int = 8080
    #: the address the API server binds (AIRFLOW_BIND_HOST of ``make airflow``); loopback unless told
    #: otherwise. The log servers are never started: on one machine the API server reads the task
    #: logs from the shared AIRFLOW_HOME, and Airflow 3.3's log server binds every interface
    #: (``airflow.utils.serve_logs`` uses host "") with no setting to narrow it.
    host: str = "127.0.0.1"
    #: ``[api] base_url``: links and redirects use it when set; "" leaves it unset, so report
    #: links are root-relative (they work from whatever host name the browser used)
    base_url: str = ""
    workers: int = 2
    concurrency: int = 1
    users: dict[str, str] = field(default_factory=dict)  # username -> password (admin role)
    jwt_secret: str = ""
    work_dir: Path | None = None
    artifacts_url: str = ""
    #: isolates this stack on a shared broker: its own Celery queue (``perf-<tag>``) and worker
    #: names (``worker1-<tag>@host``); two stacks on one Redis db would take each other's tasks
    tag: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.base_url = self.base_url.rstrip("/")
        self.users = self.users or {"admin": secrets.token_urlsafe(12)}
        self.jwt_secret = self.jwt_secret or secrets.token_urlsafe(32)

    @property
    def celery(self) -> bool:
        return self.executor == "CeleryExecutor"

    @property
    def local_url(self) -> str:
        """Where processes on this machine reach the API server (the bind address; loopback for a
        wildcard bind)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def url(self) -> str:
        """Where a browser opens the UI: ``base_url`` when set, else :attr:`local_url`."""
        return self.base_url or self.local_url

    @property
    def queue(self) -> str:
        return f"perf-{self.tag}" if self.tag else "default"

    def worker_names(self) -> list[str]:
        suffix = f"-{self.tag}" if self.tag else ""
        return [f"worker{i}{suffix}@{socket.gethostname()}" for i in range(1, self.workers + 1)]


class StackError(RuntimeError):
    pass


class Stack:
    """Start, check, use and stop the processes. ``with Stack(cfg) as s:`` migrates, starts and
    waits until healthy; leaving the block stops every process group, whatever happened."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = cfg.home / "stack-logs"
        self.timings: dict[str, float] = {}

    # --- environment -------------------------------------------------------------------------

    def user(self) -> tuple[str, str]:
        name = next(iter(self.cfg.users))
        return name, self.cfg.users[name]

    def env(self, **extra: str) -> dict[str, str]:
        c = self.cfg
        login, password = self.user()
        # the caller's Airflow config never leaks in (connections AIRFLOW_CONN_* do: Slack, S3)
        env = {k: v for k, v in os.environ.items()
               if not (k.startswith("AIRFLOW__") or k in ("AIRFLOW_HOME", "AIRFLOW_CONFIG", "AIRFLOW_CONN_AIRFLOW_API",
                                                          "PERF_WORK_DIR", "PERF_ARTIFACTS_URL"))}
        env.update({
            "AIRFLOW_HOME": str(c.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTOR": c.executor,
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scripts.airflow_stack.hostname",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": c.db_url,
            # one JWT secret and one execution API URL for every process (else workers fail with
            # "Signature verification failed")
            "AIRFLOW__API_AUTH__JWT_SECRET": c.jwt_secret,
            "AIRFLOW__API__SECRET_KEY": c.jwt_secret,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{c.local_url}/execution/",
            "AIRFLOW__API__BASE_URL": c.base_url,  # popped below when ""
            "AIRFLOW__API__HOST": c.host,
            "AIRFLOW__API__PORT": str(c.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            # simple auth manager: these users, passwords from our file (never generated)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:admin" for u in c.users),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(c.home / "passwords.json"),
            # the verdict task sets the run note through the REST API with this connection
            "AIRFLOW_CONN_AIRFLOW_API": json.dumps({"conn_type": "http", "host": c.local_url,
                                                    "login": login, "password": password}),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")])),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        })
        if not c.base_url:
            env.pop("AIRFLOW__API__BASE_URL")
        if c.db_url.startswith("postgresql+psycopg:"):
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = c.db_url  # psycopg 3 is async too (no asyncpg)
        if c.celery:
            env.update({
                "AIRFLOW__CELERY__BROKER_URL": c.broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + c.db_url,
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(c.concurrency),
                # the tasks' queue, Celery's default queue and the queue the workers listen on
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": c.queue,
            })
        else:
            # LocalExecutor starts [core] parallelism worker processes up front (32 by default)
            env["AIRFLOW__CORE__PARALLELISM"] = "4"
        if c.work_dir:
            env["PERF_WORK_DIR"] = str(c.work_dir)
        if c.artifacts_url:
            env["PERF_ARTIFACTS_URL"] = c.artifacts_url
        env.update(c.extra_env)
        env.update(extra)
        return env

    def _airflow(self) -> str:
        return str(Path(sys.executable).parent / "airflow")

    # --- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        c = self.cfg
        c.home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        write_private(c.home / "passwords.json", json.dumps(c.users) + "\n")
        if c.work_dir:
            Path(c.work_dir).mkdir(parents=True, exist_ok=True)

    def migrate(self) -> None:
        t0 = time.monotonic()
        log = self.logs / "db-migrate.log"
        with log.open("wb") as out:
            rc = subprocess.call([self._airflow(), "db", "migrate"], env=self.env(), stdout=out,
                                 stderr=subprocess.STDOUT, cwd=self.cfg.home, timeout=300)
        if rc != 0:
            raise StackError(f"airflow db migrate failed (exit {rc}):\n{tail(log)}")
        self.timings["db_migrate_s"] = time.monotonic() - t0

    def commands(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        c, af = self.cfg, self._airflow()
        cmds = {
            "api-server": ([af, "api-server", "--host", c.host, "--port", str(c.port), "--workers", "1"], {}),
            # no log servers (see StackConfig.host): they would listen on every interface
            "scheduler": ([af, "scheduler", "--skip-serve-logs"], {}),
            "dag-processor": ([af, "dag-processor"], {}),
            "triggerer": ([af, "triggerer", "--skip-serve-logs"], {}),
        }
        if c.celery:
            for i, name in enumerate(c.worker_names(), 1):
                # logs are files in the shared AIRFLOW_HOME: the API server reads them there, so the
                # workers serve none (two log servers on one machine would fight over one port)
                cmds[f"worker{i}"] = ([af, "celery", "worker", "--celery-hostname", name, "--concurrency",
                                       str(c.concurrency), "--queues", c.queue, "--skip-serve-logs",
                                       "--without-mingle", "--without-gossip"],
                                      {HOSTNAME_ENV: name})
        return cmds

    def start(self) -> None:
        for name, (argv, extra) in self.commands().items():
            out = (self.logs / f"{name}.log").open("ab")
            # own session = own process group: stop() ends the process and everything it forked
            self.procs[name] = subprocess.Popen(argv, env=self.env(**extra), stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=self.cfg.home, start_new_session=True)
            out.close()

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise StackError(f"{name} exited with {p.returncode}:\n{tail(self.logs / f'{name}.log')}")

    def health(self) -> dict[str, Any]:
        return self.get("/api/v2/monitor/health", auth=False)

    def celery_workers(self) -> list[str]:
        """Names of this stack's Celery workers that answer a ping on the broker."""
        from celery import Celery

        app = Celery(broker=self.cfg.broker_url)
        try:
            replies = app.control.ping(destination=self.cfg.worker_names(), timeout=1.0) or []
        finally:
            app.close()
        return sorted(name for r in replies for name in r)

    def wait_healthy(self, timeout: float = 240) -> None:
        """API server up and the scheduler, dag-processor, triggerer healthy (and every Celery
        worker answering a ping), or StackError with the failing process's log tail."""
        t0 = time.monotonic()
        deadline = t0 + timeout
        want = {"metadatabase", "scheduler", "triggerer", "dag_processor"}
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                last = self.health()
                bad = [k for k in want if (last.get(k) or {}).get("status") != "healthy"]
                if not bad:
                    if self.cfg.celery:
                        names = self.celery_workers()
                        last = {"workers": names}
                        if len(names) >= self.cfg.workers:
                            break
                    else:
                        break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                last = exc
            time.sleep(1.0)
        else:
            raise StackError(f"stack not healthy after {timeout:.0f} s: {last}\n"
                             + "\n".join(f"--- {n}\n{tail(self.logs / f'{n}.log', 15)}" for n in self.procs))
        self.timings["processes_healthy_s"] = time.monotonic() - t0

    def up(self, timeout: float = 240) -> "Stack":
        t0 = time.monotonic()
        self.prepare()
        self.migrate()
        self.start()
        self.wait_healthy(timeout)
        self.timings["up_s"] = time.monotonic() - t0
        return self

    def stop(self, grace: float = 15.0) -> None:
        """SIGTERM to every process group, SIGKILL to what is left after ``grace`` seconds."""
        for p in self.procs.values():
            _signal_group(p, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for p in self.procs.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for p in self.procs.values():
            _signal_group(p, signal.SIGKILL)  # also whatever the leader left behind in its group
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.reap_services()

    def reap_services(self) -> list[int]:
        """Bundled services that a load run started (in their own session, so that they outlive a
        task) and that no stop_service stopped because the stack went down mid-run: the ones whose
        environment carries this stack's AIRFLOW_HOME are stopped. Returns their pids."""
        if not self.cfg.work_dir:
            return []
        stopped = []
        for path in Path(self.cfg.work_dir).glob("*/*/service.json"):
            try:
                pid = int(json.loads(path.read_text())["pid"])
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if f"AIRFLOW_HOME={self.cfg.home}".encode() not in environ:
                continue  # not ours (or the pid was reused)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    break
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
                    time.sleep(0.1)
            stopped.append(pid)
        return stopped

    def __enter__(self) -> "Stack":
        try:
            return self.up()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- REST API v2 ---------------------------------------------------------------------------

    _token: str = ""

    def token(self) -> str:
        if not self._token:
            login, password = self.user()
            self._token = self._call("POST", "/auth/token", {"username": login, "password": password},
                                     auth=False)["access_token"]
        return self._token

    def _call(self, method: str, path: str, body: Any = None, *, auth: bool = True, raw: bool = False,
              timeout: float = 30) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(f"{self.cfg.local_url}{path}", method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
            return (resp.status, data) if raw else json.loads(data or b"{}")

    def get(self, path: str, **kw: Any) -> Any:
        return self._call("GET", path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Any:
        return self._call("POST", path, body, **kw)

    def patch(self, path: str, body: Any, **kw: Any) -> Any:
        return self._call("PATCH", path, body, **kw)

    def wait_dag_parsed(self, dag_ids: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            missing = [d for d in dag_ids if not _exists(self, f"/api/v2/dags/{d}")]
            if not missing:
                return
            self.check_alive()
            time.sleep(1.0)
        errors = self.get("/api/v2/importErrors")
        raise StackError(f"DAGs {missing} not parsed after {timeout:.0f} s; import errors: {errors}")

    def trigger(self, dag_id: str, conf: dict[str, Any]) -> str:
        run = self.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
        """Poll the run until it is finished (or ``timeout``); returns the last state seen."""
        from urllib.parse import quote

        deadline = time.monotonic() + timeout
        while True:
            run = self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
            if run["state"] in ("success", "failed") or time.monotonic() > deadline:
                return run
            self.check_alive()
            time.sleep(1.0)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        from urllib.parse import quote

        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances?limit=100")[
            "task_instances"]

    def task_log_tails(self, dag_id: str, run_id: str, lines: int = 30) -> str:
        """The last lines of each task's log files (in the shared AIRFLOW_HOME/logs)."""
        root = self.cfg.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
        out = []
        for f in sorted(root.rglob("*.log")) if root.exists() else []:
            out.append(f"--- {f.relative_to(root)}\n{tail(f, lines)}")
        return "\n".join(out) or f"(no task logs under {root})"


def _exists(stack: Stack, path: str) -> bool:
    try:
        stack.get(path)
        return True
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)  # the group we created with start_new_session
    except (ProcessLookupError, PermissionError):
        pass


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600 from the first byte on)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT: narrow it too
    with os.fdopen(fd, "w") as f:
        f.write(text)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path}: {exc})"


# --- make airflow / make airflow-celery ------------------------------------------------------------

#: environment variable (and Make variable) naming the address the API server binds
BIND_HOST_ENV = "AIRFLOW_BIND_HOST"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("executor", choices=["celery", "local"], nargs="?", default="celery",
                    help="celery: CeleryExecutor on PostgreSQL + Redis (make airflow-celery); local: LocalExecutor "
                         "on SQLite in --home (make airflow)")
    ap.add_argument("--home", type=Path, default=REPO / ".airflow" / "celery")
    ap.add_argument("--db", default="perf_airflow", help="PostgreSQL database (created if missing; celery)")
    ap.add_argument("--pg", default="postgres@127.0.0.1:5432", help="user[:password]@host:port of PostgreSQL (celery)")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--host", default=os.environ.get(BIND_HOST_ENV) or "127.0.0.1",
                    help=f"address the API server binds (default ${BIND_HOST_ENV}, else 127.0.0.1: this machine only; "
                         "0.0.0.0 for every interface)")
    ap.add_argument("--base-url", default=os.environ.get("AIRFLOW__API__BASE_URL", ""),
                    help="[api] base_url: the URL people open (links use it); default unset: root-relative links")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--user", default="admin")
    a = ap.parse_args(argv)

    celery = a.executor == "celery"
    home = a.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    if celery:
        auth, hostport = a.pg.rsplit("@", 1)
        user, _, password = auth.partition(":")
        host, _, port = hostport.partition(":")
        db_url = pg_url(a.db, host=host, port=int(port or 5432), user=user, password=password)
        where = f"database {a.db}, broker {a.broker}"
    else:
        db_url = f"sqlite:///{home / 'airflow.db'}"
        where = f"database {home / 'airflow.db'}"
    # one password and one JWT secret per home, kept across restarts; readable by the owner only
    state = home / "stack.json"
    saved = json.loads(state.read_text()) if state.exists() else {}
    generated = home / "simple_auth_manager_passwords.json.generated"  # `airflow standalone`'s, from before
    if generated.exists():
        generated.chmod(0o600)
        saved.setdefault("password", json.loads(generated.read_text() or "{}").get(a.user))
    if not saved.get("password"):
        saved["password"] = secrets.token_urlsafe(12)
    saved.setdefault("jwt_secret", secrets.token_urlsafe(32))
    write_private(state, json.dumps(saved))
    for what, why in (("PostgreSQL", pg_reachable(db_url) if celery else ""),
                      ("Redis", redis_reachable(a.broker) if celery else "")):
        if why:
            print(f"{what} is not reachable: {why}", file=sys.stderr)
            return 2
    if celery and ensure_pg_database(db_url):
        print(f"created PostgreSQL database {a.db}")
    cfg = StackConfig(home=home, db_url=db_url, executor="CeleryExecutor" if celery else "LocalExecutor",
                      broker_url=a.broker if celery else "", port=a.port, host=a.host, base_url=a.base_url,
                      workers=a.workers, concurrency=a.concurrency, users={a.user: saved["password"]},
                      jwt_secret=saved["jwt_secret"],
                      work_dir=Path(os.environ.get("PERF_WORK_DIR") or REPO / ".perf-work"),
                      artifacts_url=os.environ.get("PERF_ARTIFACTS_URL") or (REPO / "artifacts").as_uri())
    stack = Stack(cfg)
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        print(f"Starting Airflow ({cfg.executor}) in {home} (process logs: {stack.logs}) ...", flush=True)
        stack.up()
        reach = ("this machine only" if cfg.host in ("127.0.0.1", "localhost", "::1")
                 else "every interface" if cfg.host in ("0.0.0.0", "::", "") else f"address {cfg.host}")
        print(f"\nAirflow is up in {stack.timings['up_s']:.0f} s: {cfg.url}  ({reach}; {BIND_HOST_ENV}=0.0.0.0 "
              f"for every interface)\nuser {a.user}  password {saved['password']}  (also in {state}, mode 0600)\n"
              f"processes: {', '.join(stack.procs)}; {where}\n"
              "Ctrl-C stops everything.", flush=True)
        while True:
            stack.check_alive()
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    except StackError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        stack.stop()
        print("all Airflow processes stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
