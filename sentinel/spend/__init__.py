"""Spend caps: estimated cost reserved before a provider call, settled after it."""
