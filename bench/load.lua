-- wrk script of bench/load.py: a bearer token per request (rotating over many users, so the
-- per-user rate limit is exercised but not hit) and, for sends, a JSON body with a unique
-- idempotency key. Configured by environment variables (wrk passes no options to scripts):
--   LOAD_TOKENS  file with one JWT per line
--   LOAD_PATH    request path (with query string)
--   LOAD_KIND    "get" or "send"
--   LOAD_RUN     a prefix that makes this run's idempotency keys unique
--   LOAD_RESULT  file the done() hook writes its JSON figures to

local tokens = {}
for line in io.lines(os.getenv("LOAD_TOKENS")) do
  tokens[#tokens + 1] = line
end
local path = os.getenv("LOAD_PATH")
local kind = os.getenv("LOAD_KIND")
local run = os.getenv("LOAD_RUN")

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0

function init(args)
  math.randomseed(os.time() + (id or 0) * 7919)
end

function request()
  counter = counter + 1
  local token = tokens[((counter * 31 + (id or 0)) % #tokens) + 1]
  local headers = { ["Authorization"] = "Bearer " .. token }
  if kind == "send" then
    headers["Content-Type"] = "application/json"
    local body = string.format(
      '{"user_id":"load-reader-%d","channel":"inapp","category":"follow","title":"load test",' ..
      '"idempotency_key":"%s-%d-%d"}',
      math.random(0, 999999), run, id or 0, counter)
    return wrk.format("POST", path, headers, body)
  end
  return wrk.format("GET", path, headers, nil)
end

function done(summary, latency, requests)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local out = io.open(os.getenv("LOAD_RESULT"), "w")
  out:write(string.format(
    '{"requests":%d,"seconds":%.3f,"requests_per_second":%.1f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"non_2xx_3xx":%d,"socket_errors":%d,"timeouts":%d}',
    summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write, e.timeout))
  out:close()
end
