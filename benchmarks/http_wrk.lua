-- wrk driver for benchmarks/http.py: weighted request templates with placeholders.
--
--   wrk -t1 -c8 -d10s -s http_wrk.lua URL -- PLAN IDS GROUPS SEED
--
-- PLAN has one line per header ("H Name: value") and per request template
-- ("R weight METHOD path body"; the body is the rest of the line, possibly empty). IDS has one
-- task/run id per line. In a path or body, {id} becomes a random id, {g} a random group number
-- (0 .. GROUPS-1), {r} a random number and {u} a value unique to this request. done() prints one
-- "WRKJSON {...}" line that http.py parses (latencies in microseconds).

local templates, ids, headers = {}, {}, {}
local total_weight, groups, counter, thread_tag = 0, 1, 0, "0"
local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("thread_number", next_thread)
end

local function read_lines(path)
  local lines = {}
  for line in io.lines(path) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  return lines
end

function init(args)
  for _, line in ipairs(read_lines(args[1])) do
    local kind, rest = line:sub(1, 1), line:sub(3)
    if kind == "H" then
      local name, value = rest:match("^([^:]+):%s*(.*)$")
      headers[name] = value
    elseif kind == "R" then
      local weight, method, path, body = rest:match("^(%S+) (%S+) (%S+) ?(.*)$")
      total_weight = total_weight + tonumber(weight)
      templates[#templates + 1] = {
        upto = total_weight, method = method, path = path, body = body,
        dynamic = (path .. body):find("{%a+}") ~= nil,
      }
    end
  end
  ids = read_lines(args[2])
  groups = tonumber(args[3])
  thread_tag = tostring(thread_number or 0) .. "x" .. tostring(args[4])
  math.randomseed(tonumber(args[4]) * 7919 + (thread_number or 0))
end

local function fill(name)
  if name == "id" then return ids[math.random(#ids)] end
  if name == "g" then return tostring(math.random(groups) - 1) end
  if name == "r" then return string.format("%.6f", math.random()) end
  if name == "u" then return thread_tag .. "-" .. counter end
  return nil
end

function request()
  local pick, chosen = math.random() * total_weight, templates[#templates]
  for _, t in ipairs(templates) do
    if pick < t.upto then chosen = t break end
  end
  counter = counter + 1
  local path, body = chosen.path, chosen.body
  if chosen.dynamic then
    path = path:gsub("{(%a+)}", fill)
    body = body:gsub("{(%a+)}", fill)
  end
  if body == "" then body = nil end
  return wrk.format(chosen.method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50": %d, "p90": %d, "p99": %d, "max": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
