"""``sentinel compare``: one suite of prompts run on several models through generate-and-judge, each model's verdict
mix, first-attempt green share, attempts per green, cost and latency, as a table, JSON and an HTML matrix."""
