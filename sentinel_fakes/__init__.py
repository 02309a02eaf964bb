"""Fake image providers on 127.0.0.1 that speak each provider's real wire contract.

They are test doubles for Sentinel's own tests and benchmarks (no network is needed), not
mocks of Sentinel's code: each one validates requests the way its provider does and can be
told to answer with the provider's own failure modes.
"""
