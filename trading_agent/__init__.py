"""trading_agent: the bundled reference "Trading RL Agent", the system under test.

It never imports perf_tasks: the pipeline benchmarks it through the factories in
:mod:`trading_agent.benchmarks`, named in ``config/benchmarks.yaml``.
"""
