"""Generating images, one service for the gateway and for jobs: route, hold the spend cap, log every provider call,
store every delivered image."""
