"""Telemetry every layer writes to: structured logs with request ids, Prometheus counters, and the announcements
that wake readers waiting for finished work. Low in the layers: it knows no domain.

Reading them out (``/metrics`` with the queue depths, ``/readyz``, the doctor) is :mod:`sentinel.ops`.
"""
