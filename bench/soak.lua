-- wrk script for bench/soak.py: a fixed rotation of good and bad requests, counted by
-- status per wrk thread and reported by done() as one JSON line.
local POX_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
local SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"

local function pox_body(address)
  return '<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="' .. POX_NS ..
    '"><Request><EMailAddress>' .. address .. '</EMailAddress><AcceptableResponseSchema>' ..
    SCHEMA .. '</AcceptableResponseSchema></Request></Autodiscover>'
end

local TB = "autoconfig.example.test"
local AD = "autodiscover.example.test"
local XML = "text/xml; charset=utf-8"
local BASIC = "Basic YWxpY2VAZXhhbXBsZS50ZXN0OnNlY3JldA=="

-- {name, method, path, host, content type, body}
local MIX = {
  {"tb", "GET", "/mail/config-v1.1.xml?emailaddress=alice%40example.test", TB},
  {"tb-host", "GET", "/.well-known/autoconfig/mail/config-v1.1.xml", TB},
  {"pox", "POST", "/autodiscover/autodiscover.xml", AD, XML, pox_body("alice@example.test")},
  {"pox-malformed", "POST", "/Autodiscover/Autodiscover.xml", AD, XML, "<Autodiscover><Request>"},
  {"pox-doctype", "POST", "/autodiscover/autodiscover.xml", AD, XML,
    '<!DOCTYPE a [<!ENTITY x "y">]>' .. pox_body("alice@&x;")},
  {"pox-oversized", "POST", "/autodiscover/autodiscover.xml", AD, XML,
    pox_body("alice@example.test") .. string.rep(" ", 20000)},
  {"unknown-domain", "GET", "/mail/config-v1.1.xml?emailaddress=alice%40unknown.test", TB},
  {"bad-address", "GET", "/mail/config-v1.1.xml?emailaddress=%3Cscript%3E", TB},
  {"bad-host", "GET", "/mail/config-v1.1.xml", "evil.test"},
  {"v2", "GET", "/autodiscover/autodiscover.json/v1.0/alice@example.test?Protocol=AutodiscoverV1",
    AD},
  {"v2-bad-protocol", "GET", "/autodiscover/autodiscover.json?Email=a%40example.test&Protocol=Ews",
    AD},
  {"profile", "GET", "/mobileconfig?emailaddress=alice%40example.test", TB},
}

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local requests = {}
counts = {}  -- global: done() reads it from each thread with thread:get()
local index = 0

function init(args)
  for i, m in ipairs(MIX) do
    local headers = {Host = m[4], Authorization = BASIC}
    if m[5] then headers["Content-Type"] = m[5] end
    requests[i] = wrk.format(m[2], m[3], headers, m[6])
  end
  -- Threads start at different points of the rotation.
  index = math.random(#MIX) - 1
end

function request()
  index = index % #MIX + 1
  return requests[index]
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, _)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do
      total[tostring(status)] = (total[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests": %d, "duration_us": %d, "statuses": {%s}, "errors": {"connect": %d, ' ..
    '"read": %d, "write": %d, "timeout": %d}, "latency_us": {"p50": %d, "p99": %d, "max": %d}}\n',
    summary.requests, summary.duration, table.concat(parts, ", "), e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(99), latency.max))
end
