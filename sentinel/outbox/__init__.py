"""The transactional outbox: messages a state change implies, stored with it, sent by a relay.

A service writes the next step's message (:mod:`sentinel.outbox.steps`) into the same database transaction as the
change that implies it; :class:`sentinel.outbox.relay.Relay` sends committed messages to the broker and marks them
sent. A broker that is away delays the work; it never loses it, and a request never fails because of it.
"""
