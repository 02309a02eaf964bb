"""API keys: who is calling, what they may do, how often, and how much they may spend."""
