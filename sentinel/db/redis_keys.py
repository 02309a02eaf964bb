"""Removing every Redis key under a namespace (benchmarks and tests leave nothing behind)."""

from __future__ import annotations


def delete_namespace(redis_url: str, namespace: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(f"{namespace}*"))
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()
