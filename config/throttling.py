"""Rate limits decided and counted in one atomic Redis step.

DRF's SimpleRateThrottle reads a client's request history from the cache, checks it, and writes it back:
concurrent requests all read the same history, so all of them pass, and each write erases the others'.
A burst of parallel requests (a trilateration attacker's, say, against the nearby rate limit) could get far
more than the rate. Here one Lua script trims the window, counts, and records the request only when it is
allowed, atomically and in one round trip (DRF's two). Refused requests are not counted, as in DRF.

Same rates, scopes, cache-key idents and Retry-After as DRF. Without Redis (the embedded mode's
local-memory cache, one process) DRF's own path is used.
"""

from __future__ import annotations

import uuid

from rest_framework import throttling

from config.cache import redis_raw

KEY_PREFIX = "vicino:throttle:"

# KEYS[1]: the client's window (a sorted set of request ids scored by time). ARGV: now, window and
# limit, a fresh request id. Returns {1} when allowed (and recorded), else {0, oldest time in the window}.
_WINDOW_SCRIPT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, oldest[2]}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {1}
"""


class AtomicRateThrottle(throttling.SimpleRateThrottle):
    """SimpleRateThrottle's sliding window, kept in a Redis sorted set by one script (see the module doc)."""

    def allow_request(self, request, view) -> bool:
        client = redis_raw()
        if client is None or self.rate is None:
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        # EVALSHA, falling back to EVAL (which loads it) the first time a server sees the script.
        answer = client.register_script(_WINDOW_SCRIPT)(
            keys=[KEY_PREFIX + self.key],
            args=[repr(self.now), self.duration, self.num_requests, uuid.uuid4().hex],
        )
        if int(answer[0]) == 1:
            return True
        # wait() reads the history: only its oldest entry and its length matter.
        self.history = [float(answer[1])] * self.num_requests
        return False


class ScopedRateThrottle(throttling.ScopedRateThrottle, AtomicRateThrottle):
    """DRF's ScopedRateThrottle (the view's `throttle_scope`), counted atomically."""
