"""Test and measurement tools, kept out of the production packages: a loopback HTTP server of
known latency (``loopback``: tests and the load-engine accuracy benchmark) and the regression
detector's evaluation harness (``regress_harness``: tests and benchmarks/regression_harness.py)."""
