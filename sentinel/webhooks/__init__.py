"""Webhooks: a finished job or evaluation is POSTed to its callback_url, signed, retried, recorded."""
