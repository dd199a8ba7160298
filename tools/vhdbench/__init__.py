"""Helpers of ``tools/benchmark.py``: workloads, measuring, the table."""
