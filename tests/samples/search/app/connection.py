"""Talking to the Redis server: connect, retry with back-off, close."""

import random
import time

import redis


class RedisLink:
    """One connection to Redis that survives restarts of the server."""

    def __init__(self, url, attempts=5):
        self.url = url
        self.attempts = attempts
        self.client = None

    def connect_with_retry(self):
        """Open the connection, retrying with exponential back-off when the server is down."""
        delay = 0.1
        for attempt in range(self.attempts):
            try:
                self.client = redis.Redis.from_url(self.url)
                self.client.ping()
                return self.client
            except redis.ConnectionError:
                # Jitter keeps many clients from reconnecting at the same instant.
                time.sleep(delay + random.random() * delay)
                delay *= 2
        raise redis.ConnectionError(f"gave up after {self.attempts} attempts")

    def close(self):
        """Close the connection to the server."""
        if self.client is not None:
            self.client.close()
            self.client = None
