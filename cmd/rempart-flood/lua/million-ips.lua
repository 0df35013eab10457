-- A fixed number of clients, each from a new /24 (see distinct-ips.lua).
--
--   wrk -t2 -c64 -d300s -s million-ips.lua URL -- <total> <threads> <marker>
--
-- Each thread stops after total/threads answers and creates <marker>.<n>.
local next_id = 0
function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
end

function init(args)
   total = tonumber(args[1]) or 1000000
   threads = tonumber(args[2]) or 1
   marker = args[3]
   share = math.ceil(total / threads)
   sent = 0
   answered = 0
end

function request()
   local i = 6553600 + sent * threads + (id - 1)
   sent = sent + 1
   local ip = string.format("%d.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256, sent % 250 + 1)
   return wrk.format(nil, nil, { ["X-Forwarded-For"] = ip })
end

function response(status, headers, body)
   answered = answered + 1
   if answered == share then
      if marker then
         local f = io.open(marker .. "." .. id, "w")
         if f then f:close() end
      end
      wrk.thread:stop()
   end
end
