"""Exception hierarchy: user errors (fixable by the user: config, params, connections) vs bugs."""
from __future__ import annotations


class PerfError(Exception):
    """Base class for every error perf_tasks raises on purpose."""


class UserError(PerfError):
    """Something the user can fix: a bad config value, a bad parameter, an unreachable endpoint."""


class ConfigError(UserError):
    """A config file or a run parameter is invalid. The message names file, key path and value."""


class StoreError(UserError):
    """The artifact store could not be read or written (after retries)."""


class RunSealedError(StoreError):
    """A write was attempted into a run whose manifest is already written (finished runs are immutable)."""


class DeliveryError(PerfError):
    """An alert could not be delivered to its channel."""


class PipelineError(PerfError):
    """A pipeline step cannot go on (missing upstream output, failed upstream step)."""
