"""Scalability testing (spec §4); the scale kind (perf_tasks.kinds.scale) wires these together.

- :mod:`~perf_tasks.scale.instances`: 1..N instances, each its own process and port; CPU pinning;
  cgroup v2 memory.max where writable
- :mod:`~perf_tasks.scale.balancer`: HAProxy in front of them (round robin, health checks, stats CSV)
- :mod:`~perf_tasks.scale.sweep`: open-model points, the knee finder, resource sampling
- :mod:`~perf_tasks.scale.bottleneck`: what limited a point
- :mod:`~perf_tasks.scale.runner`: one size end to end (also ``sut=urls``: instances elsewhere)
- :mod:`~perf_tasks.scale.model` and :mod:`~perf_tasks.scale.usl`: factors, efficiency, cost, the
  Universal Scalability Law fit and its predictions (or the reason it refuses)
- :mod:`~perf_tasks.scale.report`: the scaling chart and report sections
- :mod:`~perf_tasks.scale.failover`: the stress kind's ``failover`` scenario
- :mod:`~perf_tasks.scale.testserver`: a loopback server of known capacity (calibration)
"""
