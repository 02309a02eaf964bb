"""Operations: health and readiness, the Prometheus exposition (with queue depths), the doctor, graceful shutdown.

What the rest of the code writes (logs, counters, finished-work announcements) is :mod:`sentinel.telemetry`.
"""
