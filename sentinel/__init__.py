"""Sentinel: routed image generation with a panel of judges."""

__version__ = "0.1.0"
