-- wrk script: exact status counts per class, printed by done() as one JSON line.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  c2, c3, c4, c5 = 0, 0, 0, 0
end

function response(status, headers, body)
  if status >= 500 then c5 = c5 + 1
  elseif status >= 400 then c4 = c4 + 1
  elseif status >= 300 then c3 = c3 + 1
  else c2 = c2 + 1 end
end

function done(summary, latency, requests)
  local t = { c2 = 0, c3 = 0, c4 = 0, c5 = 0 }
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_WRK {"requests":%d,"durationUs":%d,"s2xx":%d,"s3xx":%d,"s4xx":%d,"s5xx":%d,"non2xx3xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p99Us":%d}\n',
    summary.requests, summary.duration, t.c2, t.c3, t.c4, t.c5, e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(99)))
end
