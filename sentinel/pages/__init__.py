"""Operator pages: reviewer login, review queue, verdict pages, dashboard."""
