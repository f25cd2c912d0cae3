"""Rate-limit budgets shared by every worker of an install, in Redis.

Each bucket (a platform host and a client, see
:meth:`relationships.platforms.ratelimit.RatePacer.key`) is one Redis hash;
each operation is one Lua script, so taking a request from a budget, merging
what an answer announced, and pausing a host after a 429 are atomic however
many workers on however many machines do them at once. Times are the
callers' epoch seconds; a hash expires a while after its reset or pause.

A bucket no answer has told of (new, or lost when Redis restarted empty) is
found out by one request while the other workers wait for its answer: were
they all to send at once, each answer's "remaining" would leave out the
others' requests in flight, and the budget would start too high.

When Redis cannot be reached (restarting), the budgets of this process take
over until it is back: pacing goes on alone, as without Redis, instead of
failing the sync.
"""

from __future__ import annotations

import logging

import redis

from relationships.platforms.ratelimit import IN_FLIGHT_SHARE, PROBE_WAIT, SAME_WINDOW, Budget, LocalBudgets

log = logging.getLogger(__name__)

PREFIX = "rapport:rate:"
#: Seconds a bucket's hash outlives its reset or pause.
KEEP = 600
#: Seconds to wait for Redis before pacing alone.
TIMEOUT = 2.0

# Shared by the scripts: "" is Lua's unknown (nil), numbers travel as strings
# (Redis turns a Lua number reply into an integer).
_READ = """
local function num(v) if v == false or v == nil or v == '' then return nil end return tonumber(v) end
local function str(v) if v == nil then return '' end return tostring(v) end
local k = KEYS[1]
local now = tonumber(ARGV[1])
local h = redis.call('HMGET', k, 'remaining', 'limit', 'reset', 'paused')
local remaining, limit, reset, paused = num(h[1]), num(h[2]), num(h[3]), num(h[4])
local function keep(t) redis.call('EXPIRE', k, math.max(1, math.ceil(t - now)) + tonumber(ARGV[2])) end
"""

_TAKE = _READ + """
local heard = redis.call('HMGET', k, 'answered', 'probe')
if not heard[1] then
  local probe = num(heard[2])
  if probe ~= nil and probe > now then return {'', '', '', '', str(probe)} end
  redis.call('HSET', k, 'probe', str(now + tonumber(ARGV[3])))
  keep(now + tonumber(ARGV[3]))
  return {}
end
if remaining == nil and limit == nil and reset == nil and paused == nil then return {} end
local seen = {str(remaining), str(limit), str(reset), str(paused)}
if paused ~= nil and paused > now then
  return seen
elseif reset ~= nil and reset <= now then
  if limit ~= nil and limit > 0 then
    redis.call('HSET', k, 'remaining', limit - 1, 'reset', '')
  else
    redis.call('HDEL', k, 'remaining')
  end
elseif remaining ~= nil and remaining > 0 then
  redis.call('HSET', k, 'remaining', remaining - 1)
end
return seen
"""

# relationships.platforms.ratelimit.merge_observed, in Lua.
_OBSERVE = _READ + """
local seen_remaining, seen_limit, seen_reset, window = num(ARGV[3]), num(ARGV[4]), num(ARGV[5]), tonumber(ARGV[6])
local function lowest(a, b) if a == nil then return b elseif b == nil then return a else return math.min(a, b) end end
-- an answer that announces nothing changes nothing
if seen_remaining ~= nil or seen_reset ~= nil then
  -- the window turned with no request taken since: its count starts at the limit
  if reset ~= nil and reset <= now then remaining, reset = seen_limit or limit, nil end
  if seen_reset == nil then
    if reset == nil then remaining = seen_remaining else remaining = lowest(remaining, seen_remaining) end
  elseif seen_reset <= now then
    -- its window is over: this one's count stands
  elseif reset == nil then
    remaining, reset = lowest(remaining, seen_remaining), seen_reset
  elseif seen_reset > reset + window then
    -- a window opened by an answer: hold back for the requests still in flight (ratelimit.in_flight_reserve)
    local held = math.max(1, math.ceil((seen_limit or limit or 0) * tonumber(ARGV[7])))
    remaining, reset = seen_remaining and math.max(0, seen_remaining - held), seen_reset
  elseif seen_reset >= reset - window then
    remaining, reset = lowest(remaining, seen_remaining), math.max(reset, seen_reset)
  end
end
redis.call('HSET', k, 'remaining', str(remaining), 'reset', str(reset), 'limit', str(seen_limit or limit), 'answered', '1')
redis.call('HDEL', k, 'probe')
keep(math.max(reset or now, paused or now))
return 1
"""

_PAUSE = _READ + """
local untill = tonumber(ARGV[3])
if paused == nil or untill > paused then paused = untill end
redis.call('HSET', k, 'paused', str(paused), 'remaining', '', 'answered', '1')
redis.call('HDEL', k, 'probe')
keep(math.max(reset or now, paused))
return 1
"""


class RedisBudgets:
    """:class:`~relationships.platforms.ratelimit.LocalBudgets`' operations, atomic in Redis."""

    def __init__(self, url_or_client: str | redis.Redis, *, clock=None):
        if isinstance(url_or_client, str):
            # A worker cut off from Redis must not hang on each request it paces.
            url_or_client = redis.Redis.from_url(url_or_client, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self.redis = url_or_client
        self.down = False
        self._take = self.redis.register_script(_TAKE)
        self._observe = self.redis.register_script(_OBSERVE)
        self._pause = self.redis.register_script(_PAUSE)
        self.fallback = LocalBudgets()

    def take(self, key: str, now: float) -> Budget | None:
        found = self._ask(lambda: self._take(keys=[PREFIX + key], args=[repr(now), KEEP, PROBE_WAIT]))
        if found is _UNREACHABLE:
            return self.fallback.take(key, now)
        return _budget(found) if found else None

    def observe(self, key: str, remaining: int | None, limit: int | None, reset: float | None, now: float) -> None:
        self.fallback.observe(key, remaining, limit, reset, now)
        args = [repr(now), KEEP, _arg(remaining), _arg(limit), _arg(reset), SAME_WINDOW, IN_FLIGHT_SHARE]
        self._ask(lambda: self._observe(keys=[PREFIX + key], args=args))

    def pause(self, key: str, until: float, now: float) -> None:
        self.fallback.pause(key, until, now)
        self._ask(lambda: self._pause(keys=[PREFIX + key], args=[repr(now), KEEP, repr(until)]))

    def peek(self, key: str) -> Budget | None:
        found = self._ask(lambda: self.redis.hmget(PREFIX + key, ["remaining", "limit", "reset", "paused"]))
        if found is _UNREACHABLE:
            return self.fallback.peek(key)
        return _budget(found) if any(v not in (None, b"") for v in found) else None

    def _ask(self, call):
        """``call()``'s answer, or ``_UNREACHABLE``; says once when Redis goes away and when it is back."""
        try:
            answer = call()
        except redis.RedisError as e:
            if not self.down:
                log.warning("shared rate budgets unreachable (%s); pacing this process alone until Redis is back", e)
            self.down = True
            return _UNREACHABLE
        if self.down:
            log.info("shared rate budgets reachable again")
            self.down = False
        return answer


_UNREACHABLE = object()


def _arg(value) -> str:
    return "" if value is None else repr(value)


def _number(value) -> float | None:
    if value in (None, b"", ""):
        return None
    return float(value.decode() if isinstance(value, bytes) else value)


def _budget(values) -> Budget:
    remaining, limit, reset, paused, *probe = (_number(v) for v in values)
    if probe and probe[0] is not None:
        return Budget(probe_until=probe[0])
    return Budget(
        remaining=None if remaining is None else int(remaining),
        limit=None if limit is None else int(limit),
        reset=reset,
        paused_until=paused,
    )
