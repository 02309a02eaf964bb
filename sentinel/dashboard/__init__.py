"""The reliability dashboard: provider outcomes, latency, cost and verdicts, computed from the recorded rows."""
