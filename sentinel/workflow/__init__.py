"""The workflow: every step of a job or an evaluation as a dramatiq actor, in :mod:`sentinel.workflow.actors`.

Read that module top to bottom to follow a job from request to webhook. Each step calls one service, and the
service writes the next step's message into the outbox in the same transaction as its change
(:mod:`sentinel.outbox`); ``dramatiq sentinel.workflow.actors`` runs every step.
"""
