"""Helpers for tests that run real processes: a cuttable TCP proxy, a webhook receiver, a job-load client."""
