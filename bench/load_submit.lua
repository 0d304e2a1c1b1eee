-- wrk script for bench/load_submit.py (--client wrk): POST /v1/comments with varied comments, record the
-- id of every 2xx answer and count the other statuses. Configured through environment variables (wrk only
-- passes script arguments to the worker threads, and done() runs in the main thread):
--   WRK_KEY    the API key (role submit)
--   WRK_VOCAB  a file of words, one per line, comments are drawn from
--   WRK_TEXTS  a file of fixed comments, one per line, repeated verbatim (the duplicate path)
--   WRK_REPEAT share of verbatim repeats (e.g. 0.02)
--   WRK_SEED   base random seed (each thread adds its number)
--   WRK_OUT    where done() writes its JSON report (latency percentiles, counts) and, beside it,
--              WRK_OUT .. ".ids" (one acknowledged comment id per line)

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local function lines(path)
  local out = {}
  for line in io.lines(path) do
    if #line > 0 then out[#out + 1] = line end
  end
  return out
end

local ENDS = { ".", "!", "?", "..." }

function init(args)
  math.randomseed(tonumber(os.getenv("WRK_SEED") or "0") * 1000 + tid)
  vocab = lines(os.getenv("WRK_VOCAB"))
  texts = lines(os.getenv("WRK_TEXTS"))
  repeat_rate = tonumber(os.getenv("WRK_REPEAT") or "0.02")
  ids = {}
  nids = 0
  statuses = {}
  wrk.method = "POST"
  wrk.path = "/v1/comments"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_KEY")
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local text
  if math.random() < repeat_rate then
    text = texts[math.random(#texts)]
  else
    local words = {}
    for i = 1, math.random(8, 40) do words[i] = vocab[math.random(#vocab)] end
    text = table.concat(words, " ")
    text = text:sub(1, 1):upper() .. text:sub(2) .. ENDS[math.random(#ENDS)]
  end
  local body = string.format('{"text": "%s", "author_id": "user-%d", "thread_id": "thread-%d"}', text,
    math.random(0, 19999), math.random(0, 199))
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    nids = nids + 1
    ids[nids] = body:match('"id":%s*(%d+)') or "?"
  else
    local k = tostring(status)
    statuses[k] = (statuses[k] or 0) + 1
  end
end

function done(summary, latency, requests)
  local out = os.getenv("WRK_OUT")
  local f = assert(io.open(out .. ".ids", "w"))
  local by_status = {}
  local acked = 0
  for _, t in ipairs(threads) do
    local tids = t:get("ids")
    local n = t:get("nids")
    for i = 1, n do f:write(tids[i], "\n") end
    acked = acked + n
    for k, v in pairs(t:get("statuses")) do by_status[k] = (by_status[k] or 0) + v end
  end
  f:close()
  local parts = {}
  for k, v in pairs(by_status) do parts[#parts + 1] = string.format('"%s": %d', k, v) end
  local e = summary.errors
  local r = assert(io.open(out, "w"))
  r:write(string.format(
    '{"requests": %d, "duration_us": %d, "acked": %d, "non_2xx": {%s}, ' ..
    '"socket_errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, acked, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
  r:close()
end
