"""Scalability testing (spec §4): the capacity model (:mod:`perf_tasks.scale.usl`)."""
