-- wrk script for bench/gateway.py: session-bound tools/call requests (handshake era).
--
-- Arguments (after `--`): the tools/call params as JSON, a comma-separated list of
-- Mcp-Session-Id values, and an id base. Requests rotate over the sessions, so N
-- connections act like N clients; every request gets its own JSON-RPC id.

local params, sessions, next_id, counter = nil, {}, 0, 0

function init(args)
  params = args[1]
  for sid in string.gmatch(args[2], "[^,]+") do
    sessions[#sessions + 1] = sid
  end
  next_id = tonumber(args[3])
  assert(#sessions > 0, "no sessions")
end

function request()
  counter = counter + 1
  local body = '{"jsonrpc":"2.0","id":' .. (next_id + counter) .. ',"method":"tools/call","params":' .. params .. '}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["MCP-Protocol-Version"] = "2025-11-25",
    ["Mcp-Session-Id"] = sessions[(counter % #sessions) + 1],
  }
  return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,'
      .. '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
