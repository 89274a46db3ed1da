"""Command line: ``python -m trading_agent.service [--host 127.0.0.1] [--port 8000] [--workers N]
[--db sqlite:///path | postgresql://... | none] [--log-level warning] [--max-body-bytes 65536]`` and
the sizes of the synthetic world (``--symbols``, ``--ticks``, ``--accounts``, ``--seed``...).

Serves with uvicorn (uvloop + httptools). The CLI hands its validated config to the workers in
``$TRADING_SERVICE_CONFIG`` and uvicorn imports the app factory by name in each worker, which is
what lets ``--workers N`` start N processes. Exit codes: 0 after a normal shutdown, 2 for a bad
option (the message names it).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from trading_agent.service.config import (CONFIG_ENV, LOG_LEVELS, ServiceConfig, ServiceConfigError,
                                          config_from_mapping, config_to_env)

APP_FACTORY = "trading_agent.service.app:create_app_from_env"


def configure_logging(level: str) -> None:
    """Log records of this package to stderr at ``level`` (once per process)."""
    root = logging.getLogger("trading_agent")
    root.setLevel(level.upper())
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"))
        root.addHandler(handler)


def parse_args(argv: Sequence[str] | None = None) -> ServiceConfig:
    d = ServiceConfig()
    p = argparse.ArgumentParser(prog="python -m trading_agent.service", description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default=d.host, help="interface to bind (default loopback only: %(default)s)")
    p.add_argument("--port", type=int, default=d.port)
    p.add_argument("--workers", type=int, default=d.workers,
                   help="worker processes; each keeps its own market data, engine and books")
    p.add_argument("--db", default=d.db, help="order store: sqlite:///path or a path (one file per worker), "
                                             "postgresql://... (one schema per worker), 'none'; default: "
                                             "SQLite in a temporary directory removed at exit")
    p.add_argument("--log-level", default=d.log_level, choices=LOG_LEVELS)
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes,
                   help="request bodies larger than this are answered 413 without being read (default %(default)s)")
    p.add_argument("--order-timeout-s", type=float, default=d.order_timeout_s,
                   help="an order waits this long for the engine and its store, then gets 503 + Retry-After")
    p.add_argument("--store-retry-s", type=float, default=d.store_retry_s,
                   help="after a store failure, reopen the store and rebuild from it this often")
    p.add_argument("--feed", default=d.feed, choices=("synthetic", "push"),
                   help="synthetic: the seeded stream advances per market-data call; push: ticks come from an "
                        "upstream feed on POST /feed/ticks")
    p.add_argument("--max-quote-age-s", type=float, default=d.max_quote_age_s,
                   help="quotes older than this are stale (flagged; risk answers 503); default: never stale")
    p.add_argument("--symbols", dest="n_symbols", type=int, default=d.n_symbols)
    p.add_argument("--ticks", dest="n_ticks", type=int, default=d.n_ticks, help="ticks replayed at start")
    p.add_argument("--accounts", dest="n_accounts", type=int, default=d.n_accounts)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--advance-ticks", type=int, default=d.advance_ticks,
                   help="new ticks per market-data call (0: frozen market)")
    p.add_argument("--history-days", type=int, default=d.history_days, help="return history for historical VaR")
    p.add_argument("--cnn-lstm", dest="cnn_lstm_path", default=None, help="CNN+LSTM state_dict checkpoint")
    p.add_argument("--policy", dest="policy_path", default=None, help="PPO policy state_dict checkpoint")
    ns = p.parse_args(argv)
    try:
        return config_from_mapping(vars(ns), "the command line")
    except ServiceConfigError as exc:
        p.error(str(exc))
        raise  # p.error exits; this keeps type checkers content


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(config.log_level)
    if config.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger(__name__).warning("binding %s: the service has no authentication; anyone who can "
                                            "reach this interface can submit orders", config.host)
    os.environ[CONFIG_ENV] = config_to_env(config)  # read back by every worker's app factory
    import uvicorn

    quiet = config.log_level not in ("info", "debug")
    uvicorn.run(APP_FACTORY, factory=True, host=config.host, port=config.port, workers=config.workers,
                log_level=config.log_level, access_log=not quiet, loop="uvloop", http="httptools",
                timeout_graceful_shutdown=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
