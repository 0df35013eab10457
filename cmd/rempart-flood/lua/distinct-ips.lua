-- Every request from a new /24: X-Forwarded-For walks the IPv4 space
-- from 100.0.0.0 one /24 at a time, threads interleaved.
--
--   wrk -t2 -c64 -d5s -s distinct-ips.lua URL -- <offset> <threads>
--
-- offset: how many /24s to skip first; threads: wrk's -t.
local next_id = 0
function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
end

function init(args)
   offset = tonumber(args[1]) or 0
   threads = tonumber(args[2]) or 1
   sent = 0
end

function request()
   local i = 6553600 + offset + sent * threads + (id - 1)
   sent = sent + 1
   local ip = string.format("%d.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256, sent % 250 + 1)
   return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip })
end
