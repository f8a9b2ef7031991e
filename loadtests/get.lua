-- wrk script: keep-alive GETs over a spread of serials (paths from make_paths.py).
-- Counts non-200 answers so a run that serves errors cannot pass as fast.
local paths = {}
local errors = 0

function init(args)
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time() + math.random(1, 1000000))
end

function request()
  return wrk.format("GET", paths[math.random(1, #paths)])
end

function response(status, headers, body)
  if status ~= 200 then
    errors = errors + 1
  end
end

function done(summary, latency, requests)
  io.write(string.format(
    "RESULT requests_per_sec=%.0f p50_ms=%.3f p99_ms=%.3f non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout))
end
