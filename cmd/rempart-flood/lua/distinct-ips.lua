-- Every request from a new /24: X-Forwarded-For walks the IPv4 space
-- from 100.0.0.0 one /24 at a time, threads interleaved.
--
--   wrk -t2 -c64 -d5s -s distinct-ips.lua URL -- <offset> <threads>
--   wrk -t2 -c64 -d300s -s distinct-ips.lua URL -- <offset> <threads> <total> <marker>
--
-- offset: how many /24s to skip first; threads: wrk's -t. With total, each
-- thread stops after total/threads answers and creates <marker>.<n> (its
-- thread number), so that a runner can stop wrk once every thread is done.
local next_id = 0
function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
end

function init(args)
   offset = tonumber(args[1]) or 0
   threads = tonumber(args[2]) or 1
   total = tonumber(args[3])
   marker = args[4]
   if total then share = math.ceil(total / threads) end
   sent = 0
   answered = 0
end

function request()
   local i = 6553600 + offset + sent * threads + (id - 1)
   sent = sent + 1
   local ip = string.format("%d.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256, sent % 250 + 1)
   return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip })
end

function response(status, headers, body)
   if not share then return end
   answered = answered + 1
   if answered == share then
      if marker then
         local f = io.open(marker .. "." .. id, "w")
         if f then f:close() end
      end
      wrk.thread:stop()
   end
end
