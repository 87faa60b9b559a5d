-- wrk script: session-bound MCP requests (handshake era) over keep-alive connections.
--
-- Arguments (after `--`): method ("tools/call" or "tools/list"), a comma-separated
-- list of Mcp-Session-Id values, an id base, and a bearer token ("-": none).  Requests rotate over the sessions
-- so N connections behave like N clients; every request gets its own JSON-RPC id
-- (base + counter) because servers route responses by id within a session, and two
-- in-flight requests with one id would collide.

local method, sessions, next_id, token = nil, {}, 0, nil
local counter = 0
local params = {
  ["tools/call"] = '{"name":"echo","arguments":{"text":"hello from wrk"}}',
  ["tools/list"] = '{}',
}

function init(args)
  method = args[1]
  for sid in string.gmatch(args[2], "[^,]+") do
    sessions[#sessions + 1] = sid
  end
  next_id = tonumber(args[3])
  if args[4] and args[4] ~= "-" then token = "Bearer " .. args[4] end
  assert(params[method], "unknown method " .. tostring(method))
  assert(#sessions > 0, "no sessions")
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (next_id + counter) .. ',"method":"' .. method
    .. '","params":' .. params[method] .. '}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
    ["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1],
    ["Authorization"] = token,
  }
  return wrk.format("POST", nil, headers, body)
end

-- One machine-readable line for run.py; wrk's own report is printed above it.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,'
      .. '"max_us":%d,"mean_us":%.1f,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(99), latency.max, latency.mean,
    e.connect, e.read, e.write, e.status, e.timeout))
end
