"""Benchmarks that print numbers: timing, throughput, memory and verdict-accuracy goals live here, not in tests.

One module per thing measured, each run by its ``sentinel bench`` command; what they share (Sentinel started in its
own processes, reading CPU and memory from /proc) is in ``harness``.
"""
