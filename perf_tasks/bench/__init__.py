"""Benchmark runner and its statistics."""
