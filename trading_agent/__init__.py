"""trading_agent: the bundled reference "Trading RL Agent", the system under test.

It never imports perf_tasks: the pipeline benchmarks it through the factories in each part's
``bench.py`` (``trading_agent.<part>.bench:<factory>``, see :mod:`trading_agent.operation`),
named in ``config/benchmarks.yaml``.
"""
