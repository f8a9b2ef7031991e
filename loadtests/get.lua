-- wrk script: keep-alive GETs over a spread of serials (paths from make_paths.py).
-- Requests are formatted once in init(), so the generator spends its time on the wire,
-- not in Lua. There is deliberately no response() hook: defining one makes wrk parse
-- every header into Lua tables, which caps it far below the server. Non-2xx/3xx answers
-- are still counted by wrk itself (summary.errors.status) and reported below, so a run
-- that serves errors cannot pass as fast.
local requests = {}

function init(args)
  for line in io.lines(args[1]) do
    requests[#requests + 1] = wrk.format("GET", line)
  end
  math.randomseed(os.time() + math.random(1, 1000000))
end

function request()
  return requests[math.random(1, #requests)]
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests_per_sec=%.0f p50_ms=%.3f p99_ms=%.3f non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
