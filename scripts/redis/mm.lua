#!lua name=mm
--
-- mm — model-aware job routing, as Redis 7 functions.
--
-- Keys read (layout of DESIGN.md, written by mm-report and the job queue):
--   machines:models:heartbeat  zset  machine id -> unix time of its last report
--   machine:<id>:model_names   set   model names present on the machine
--   models:index:<name>        set   machine ids holding the model
--   jobs:pending               zset  job id -> score, highest first
--   job:<id>                   hash  service_required, requirements (JSON), ...
--   machine:<id>:liar          hash  count, last_by, last_at: peers' reports
-- Keys written when a job is claimed:
--   jobs:pending (ZREM), job:<id> (status, worker_id, assigned_at),
--   jobs:active:<worker> (job id -> job JSON)
-- Keys written when a machine reports lying peers (mm_report_liars):
--   machine:<id>:liar (HINCRBY count, last_by, last_at; EXPIRE 7 days)
--
-- A job's models are requirements.models, or requirements.positive_requirements
-- .models (both, if both are given): a list of names, one name, or "all", which
-- means the job runs anywhere.  A job whose requirements are not valid JSON, or
-- whose models are neither, is never claimed: it stays pending for a human.
-- So is a job that needs more than MAX_JOB_MODELS (256) distinct models;
-- mm_explain_job says why.  The limit is jobMatching.lua's too: a job
-- mm-route matches is one the deployed workers' findMatchingJob can claim.  No function passes an unbounded list to one
-- command: Lua's unpack fails past about 8,000 values, so lists go in
-- chunks of CHUNK.
--
-- Functions:
--   FCALL mm_find_matching_job 0 machine worker service [max_scan [stale_after]]
--       claims the best pending job the machine can run; returns
--       {"jobId":..., "job":{...}} as JSON, or nil
--   FCALL_RO mm_peek_matching_job 0 machine service [max_scan [stale_after]]
--       the same job, without claiming it
--   FCALL_RO mm_machines_with_models 0 [--stale-after S] name...
--       sorted ids of live machines holding every named model
--   FCALL_RO mm_explain_job 0 job_id [stale_after]
--       {job_id, pending, service_required, models_mode, {models},
--        {machines that can run it}, {{machine, {missing models}}...},
--        status, why it is never matched or ''}
--   FCALL_RO mm_fleet 0 [liars]
--       {now, {{machine, heartbeat, error or '', last_updated, total_models,
--        total_bytes, total_size_gb, unverified_models, missing_models}...}}
--       for every machine in machines:models:heartbeat; a field it lacks is
--       nil, a models hash of the wrong type is its error.  With "liars", a
--       third element, one entry a row in the same order: {count, last_by,
--       last_at} of machine:<id>:liar (nil fields when it has none), or the
--       error reading it (a string)
--   FCALL_RO mm_models 0 [max_scan [stale_after]]
--       {jobs pending, jobs scanned, name, machines, live machines,
--        pending jobs, name, ...}: every model a reporting machine holds or a
--       scanned pending job needs; the first max_scan pending jobs counted
--   FCALL_RO mm_peers 0 self stale_after sha256...
--       {{machine, serve_url, {i, ...}}...}: each live machine but self
--       that advertises a serving URL (mm-serve) and holds some of the
--       digests, with their places (from 1) among those asked
--   FCALL mm_report_liars 0 by machine...
--       machine by caught each machine sending bytes that fail the hash:
--       machine:<id>:liar counts it; returns how many keys were written
--   FCALL mm_peer_lease 0 op self ttl_ms sha256...
--       the leases mm:fetching:<sha256> (value: the machine id of a serving
--       machine downloading that file, a TTL it renews): op take (SET NX,
--       or renew self's own), peek, renew (self's), drop (self's); returns
--       one value a digest: take and peek the holder ('' none), renew and
--       drop 1 or 0
--
-- max_scan (default 100, at most 1000) bounds the pending jobs looked at per
-- call; stale_after (default 120 s) is how old a heartbeat may be.

local DEFAULT_MAX_SCAN = 100
local MAX_MAX_SCAN = 1000
local DEFAULT_STALE = 120
local MAX_JOB_MODELS = 256
local CHUNK = 1000

local function now_parts()
	local t = redis.call('TIME')
	return tonumber(t[1]), tonumber(t[2])
end

-- Unix seconds to an ISO 8601 date (civil-from-days, proleptic Gregorian).
local function iso8601(secs, usec)
	local floor = math.floor
	local days = floor(secs / 86400)
	local rem = secs - days * 86400
	local z = days + 719468
	local era = floor(z / 146097)
	local doe = z - era * 146097
	local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
	local y = yoe + era * 400
	local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
	local mp = floor((5 * doy + 2) / 153)
	local d = doy - floor((153 * mp + 2) / 5) + 1
	local m = mp < 10 and mp + 3 or mp - 9
	if m <= 2 then
		y = y + 1
	end
	return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
		floor(rem / 3600), floor(rem % 3600 / 60), rem % 60, floor(usec / 1000))
end

local function positive_number(s, default, what, max)
	if s == nil or s == '' then
		return default
	end
	local n = tonumber(s)
	if not n or n <= 0 or (max and n > max) then
		error({ err = 'ERR mm: ' .. what .. ' must be a positive number' ..
			(max and (' up to ' .. max) or '') .. ", got '" .. tostring(s) .. "'" })
	end
	return n
end

-- Collect the model names of one requirements table into out (a list and a
-- set); returns 'all', true, or nil when the value makes no sense.
local function add_models(v, out, seen)
	if v == nil or v == cjson.null then
		return true
	end
	if v == 'all' then
		return 'all'
	end
	if type(v) == 'string' then
		v = { v }
	end
	if type(v) ~= 'table' then
		return nil
	end
	for _, name in ipairs(v) do
		if type(name) == 'number' then
			name = tostring(name)
		end
		if type(name) ~= 'string' then
			return nil
		end
		if not seen[name] then
			seen[name] = true
			out[#out + 1] = name
		end
	end
	return true
end

-- redis.call(cmd, key, ...) with the values of list, CHUNK at a time; the
-- replies (arrays) joined in order.
local function call_chunked(cmd, key, list)
	local out = {}
	for i = 1, #list, CHUNK do
		local r = redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
		for j = 1, #r do
			out[#out + 1] = r[j]
		end
	end
	return out
end

-- Why a job with these models is never matched, or nil when it may be.
local function never_matched(models)
	if models == nil then
		return 'its requirements are not valid JSON or name no models'
	end
	if type(models) == 'table' and #models > MAX_JOB_MODELS then
		return 'it needs ' .. #models .. ' models, more than the limit of ' .. MAX_JOB_MODELS
	end
	return nil
end

-- The models a job needs: 'all', a list (maybe empty), or nil (invalid).
local function job_models(req_json)
	if not req_json or req_json == '' then
		return {}
	end
	local ok, req = pcall(cjson.decode, req_json)
	if not ok or type(req) ~= 'table' then
		return nil
	end
	local out, seen = {}, {}
	local a = add_models(req.models, out, seen)
	local b = true
	if type(req.positive_requirements) == 'table' then
		b = add_models(req.positive_requirements.models, out, seen)
	end
	if a == nil or b == nil then
		return nil
	end
	if a == 'all' or b == 'all' then
		if #out == 0 then
			return 'all'
		end
	end
	return out
end

local function is_live(machine, stale_after, now)
	local score = redis.call('ZSCORE', 'machines:models:heartbeat', machine)
	if not score then
		return false
	end
	return now - tonumber(score) <= stale_after
end

-- Does the machine hold every name?  have caches answers for this call.
local function holds_all(machine, names, have)
	local ask = {}
	for _, n in ipairs(names) do
		if have[n] == nil then
			ask[#ask + 1] = n
		end
	end
	if #ask > 0 then
		local r = call_chunked('SMISMEMBER', 'machine:' .. machine .. ':model_names', ask)
		for i, n in ipairs(ask) do
			have[n] = r[i] == 1
		end
	end
	for _, n in ipairs(names) do
		if not have[n] then
			return false
		end
	end
	return true
end

local function hash_table(flat)
	local t = {}
	for i = 1, #flat, 2 do
		t[flat[i]] = flat[i + 1]
	end
	return t
end

-- Find (and, with worker, claim) the best pending job machine can run.
local function find_job(machine, worker, service, max_scan, stale_after)
	local secs, usec = now_parts()
	if not is_live(machine, stale_after, secs) then
		return nil
	end
	local ids = redis.call('ZREVRANGE', 'jobs:pending', 0, max_scan - 1)
	local have = {}
	for _, id in ipairs(ids) do
		local f = redis.call('HMGET', 'job:' .. id, 'service_required', 'requirements')
		local svc, req = f[1], f[2]
		if (svc or req) and (not svc or svc == '' or svc == service) then
			local models = job_models(req)
			if models == 'all' or (not never_matched(models) and holds_all(machine, models, have)) then
				if worker then
					redis.call('ZREM', 'jobs:pending', id)
					redis.call('HSET', 'job:' .. id, 'status', 'assigned', 'worker_id', worker,
						'assigned_at', iso8601(secs, usec))
				end
				local job = hash_table(redis.call('HGETALL', 'job:' .. id))
				if worker then
					redis.call('HSET', 'jobs:active:' .. worker, id, cjson.encode(job))
				end
				return cjson.encode({ jobId = id, job = job })
			end
		end
	end
	return nil
end

redis.register_function('mm_find_matching_job', function(keys, args)
	if #args < 3 then
		error({ err = 'ERR mm_find_matching_job: want machine_id worker_id service [max_scan [stale_after]]' })
	end
	local max_scan = positive_number(args[4], DEFAULT_MAX_SCAN, 'max_scan', MAX_MAX_SCAN)
	local stale = positive_number(args[5], DEFAULT_STALE, 'stale_after')
	return find_job(args[1], args[2], args[3], math.floor(max_scan), stale)
end)

redis.register_function{
	function_name = 'mm_peek_matching_job',
	flags = { 'no-writes' },
	callback = function(keys, args)
		if #args < 2 then
			error({ err = 'ERR mm_peek_matching_job: want machine_id service [max_scan [stale_after]]' })
		end
		local max_scan = positive_number(args[3], DEFAULT_MAX_SCAN, 'max_scan', MAX_MAX_SCAN)
		local stale = positive_number(args[4], DEFAULT_STALE, 'stale_after')
		return find_job(args[1], nil, args[2], math.floor(max_scan), stale)
	end,
}

local function live_machines(stale_after, now)
	return redis.call('ZRANGEBYSCORE', 'machines:models:heartbeat', now - stale_after, '+inf')
end

redis.register_function{
	function_name = 'mm_machines_with_models',
	flags = { 'no-writes' },
	callback = function(keys, args)
		local stale, first = DEFAULT_STALE, 1
		if args[1] == '--stale-after' then
			stale = positive_number(args[2], DEFAULT_STALE, 'stale_after')
			first = 3
		end
		local now = now_parts()
		local ids
		if first > #args then
			ids = live_machines(stale, now)
		else
			-- SINTER of CHUNK keys at a time, the results intersected here.
			local cand
			for i = first, #args, CHUNK do
				local k = {}
				for j = i, math.min(i + CHUNK - 1, #args) do
					k[#k + 1] = 'models:index:' .. args[j]
				end
				local part = redis.call('SINTER', unpack(k))
				if cand then
					local inpart = {}
					for _, id in ipairs(part) do
						inpart[id] = true
					end
					local both = {}
					for _, id in ipairs(cand) do
						if inpart[id] then
							both[#both + 1] = id
						end
					end
					cand = both
				else
					cand = part
				end
				if #cand == 0 then
					break
				end
			end
			ids = {}
			if #cand > 0 then
				local scores = call_chunked('ZMSCORE', 'machines:models:heartbeat', cand)
				for i, id in ipairs(cand) do
					local s = scores[i]
					if s and now - tonumber(s) <= stale then
						ids[#ids + 1] = id
					end
				end
			end
		end
		table.sort(ids)
		return ids
	end,
}

redis.register_function{
	function_name = 'mm_explain_job',
	flags = { 'no-writes' },
	callback = function(keys, args)
		if #args < 1 then
			error({ err = 'ERR mm_explain_job: want job_id [stale_after]' })
		end
		local id = args[1]
		local stale = positive_number(args[2], DEFAULT_STALE, 'stale_after')
		local flat = redis.call('HGETALL', 'job:' .. id)
		if #flat == 0 then
			return nil
		end
		local job = hash_table(flat)
		local pending = redis.call('ZSCORE', 'jobs:pending', id) and 1 or 0
		local models = job_models(job.requirements)
		local mode = models == 'all' and 'all' or (models and 'list' or 'invalid')
		local names = type(models) == 'table' and models or {}
		local why = never_matched(models)
		local can, cannot = {}, {}
		local machines = live_machines(stale, (now_parts()))
		table.sort(machines)
		if not why then
			for _, m in ipairs(machines) do
				if #names == 0 then
					can[#can + 1] = m
				else
					local r = call_chunked('SMISMEMBER', 'machine:' .. m .. ':model_names', names)
					local missing = {}
					for i, n in ipairs(names) do
						if r[i] ~= 1 then
							missing[#missing + 1] = n
						end
					end
					if #missing == 0 then
						can[#can + 1] = m
					else
						cannot[#cannot + 1] = { m, missing }
					end
				end
			end
		end
		return { id, pending, job.service_required or '', mode, names, can, cannot,
			job.status or '', why or '' }
	end,
}

local FLEET_FIELDS = { 'last_updated', 'total_models', 'total_bytes', 'total_size_gb',
	'unverified_models', 'missing_models' }

-- One row a machine; judging (live, worst first) is mm-route's.
redis.register_function{
	function_name = 'mm_fleet',
	flags = { 'no-writes' },
	callback = function(keys, args)
		local now = now_parts()
		local hb = redis.call('ZRANGE', 'machines:models:heartbeat', 0, -1, 'WITHSCORES')
		local rows, liars = {}, {}
		for i = 1, #hb, 2 do
			local id = hb[i]
			if args[1] == 'liars' then
				local l = redis.pcall('HMGET', 'machine:' .. id .. ':liar', 'count', 'last_by', 'last_at')
				liars[#liars + 1] = l.err or l
			end
			local f = redis.pcall('HMGET', 'machine:' .. id .. ':models', unpack(FLEET_FIELDS))
			local row
			if f.err then
				row = { id, hb[i + 1], f.err }
			else
				row = { id, hb[i + 1], '' }
				for j = 1, #FLEET_FIELDS do
					row[3 + j] = f[j]
				end
			end
			rows[#rows + 1] = row
		end
		if args[1] == 'liars' then
			return { now, rows, liars }
		end
		return { now, rows }
	end,
}

-- Holders of every model any reporting machine holds, and the pending jobs
-- (the first max_scan) that need it.  A machine whose name set is of the
-- wrong type is passed over; so is a job whose requirements make no sense
-- or name more than MAX_JOB_MODELS models.
redis.register_function{
	function_name = 'mm_models',
	flags = { 'no-writes' },
	callback = function(keys, args)
		local max_scan = positive_number(args[1], DEFAULT_MAX_SCAN, 'max_scan', MAX_MAX_SCAN)
		local stale = positive_number(args[2], DEFAULT_STALE, 'stale_after')
		local now = now_parts()
		local hb = redis.call('ZRANGE', 'machines:models:heartbeat', 0, -1, 'WITHSCORES')
		local count, names = {}, {}
		for i = 1, #hb, 2 do
			local held = redis.pcall('SMEMBERS', 'machine:' .. hb[i] .. ':model_names')
			if not held.err then
				local live = now - tonumber(hb[i + 1]) <= stale and 1 or 0
				for _, n in ipairs(held) do
					local c = count[n]
					if c then
						c[1] = c[1] + 1
						c[2] = c[2] + live
					else
						count[n] = { 1, live, 0 }
						names[#names + 1] = n
					end
				end
			end
		end
		local pending = redis.call('ZCARD', 'jobs:pending')
		local ids = redis.call('ZREVRANGE', 'jobs:pending', 0, math.floor(max_scan) - 1)
		for _, id in ipairs(ids) do
			local req = redis.pcall('HGET', 'job:' .. id, 'requirements')
			local models = type(req) == 'string' and job_models(req)
			if type(models) == 'table' and not never_matched(models) then
				for _, n in ipairs(models) do
					local c = count[n]
					if c then
						c[3] = c[3] + 1
					else
						count[n] = { 0, 0, 1 }
						names[#names + 1] = n
					end
				end
			end
		end
		local out = { pending, #ids }
		for _, n in ipairs(names) do
			local c = count[n]
			out[#out + 1] = n
			out[#out + 1] = c[1]
			out[#out + 1] = c[2]
			out[#out + 1] = c[3]
		end
		return out
	end,
}

-- The asked digests (indexes into want, by digest) that machine id holds:
-- from its set of proved digests, or, for a machine an older mm-report
-- published (no set), from its models JSON.  nil when it holds none.
local function peer_holds(id, want, digests)
	local key = 'machine:' .. id .. ':sha256s'
	local has = {}
	local t = redis.call('TYPE', key).ok
	if t == 'set' then
		local member = call_chunked('SMISMEMBER', key, digests)
		for i, d in ipairs(digests) do
			if member[i] == 1 then
				for _, k in ipairs(want[d]) do
					has[#has + 1] = k
				end
			end
		end
	elseif t == 'none' then
		local js = redis.pcall('HGET', 'machine:' .. id .. ':models', 'models')
		if type(js) ~= 'string' then
			return nil
		end
		local ok, models = pcall(cjson.decode, js)
		if not ok or type(models) ~= 'table' then
			return nil
		end
		local seen = {}
		for _, m in ipairs(models) do
			local d = type(m) == 'table' and m.sha256
			if type(d) == 'string' and want[d] and not seen[d] then
				seen[d] = true
				for _, k in ipairs(want[d]) do
					has[#has + 1] = k
				end
			end
		end
	else
		return nil
	end
	if #has == 0 then
		return nil
	end
	return has
end

-- Where mm-fetch may take files from: every live machine but self whose
-- inventory advertises a serving URL, with the asked digests it holds
-- (peer_holds).  A machine whose keys are of the wrong type is passed over.
redis.register_function{
	function_name = 'mm_peers',
	flags = { 'no-writes' },
	callback = function(keys, args)
		if #args < 2 then
			error({ err = 'ERR mm_peers: want self stale_after sha256...' })
		end
		local self = args[1]
		local stale = positive_number(args[2], DEFAULT_STALE, 'stale_after')
		local want, digests = {}, {}
		for i = 3, #args do
			local w = want[args[i]]
			if not w then
				w = {}
				want[args[i]] = w
				digests[#digests + 1] = args[i]
			end
			w[#w + 1] = i - 2
		end
		local out = {}
		if #digests == 0 then
			return out
		end
		for _, id in ipairs(live_machines(stale, (now_parts()))) do
			if id ~= self then
				local f = redis.pcall('HMGET', 'machine:' .. id .. ':models', 'serve_url')
				if not f.err and type(f[1]) == 'string' and f[1] ~= '' then
					local has = peer_holds(id, want, digests)
					if has then
						out[#out + 1] = { id, f[1], has }
					end
				end
			end
		end
		return out
	end,
}

-- A machine caught peers sending bytes that fail the hash (mm-fetch, once a
-- run): machine:<id>:liar counts the reports, keeps the last reporter and
-- the server's time, and expires LIAR_TTL after the last report.  A key of
-- the wrong type or a count that is not an integer is started anew.  Only
-- a report for the fleet view: nothing routes by it.
local LIAR_TTL = 7 * 86400

redis.register_function('mm_report_liars', function(keys, args)
	if #args < 1 then
		error({ err = 'ERR mm_report_liars: want by machine...' })
	end
	local by = args[1]
	local now = now_parts()
	local seen, n = {}, 0
	for i = 2, #args do
		local id = args[i]
		if id ~= '' and id ~= by and not seen[id] then
			seen[id] = true
			local key = 'machine:' .. id .. ':liar'
			local c = redis.pcall('HINCRBY', key, 'count', 1)
			if type(c) == 'table' and c.err then
				redis.call('DEL', key)
				redis.call('HSET', key, 'count', 1)
			end
			if by ~= '' then
				redis.call('HSET', key, 'last_by', by, 'last_at', now)
			else
				redis.call('HSET', key, 'last_at', now)
				redis.call('HDEL', key, 'last_by')
			end
			redis.call('EXPIRE', key, LIAR_TTL)
			n = n + 1
		end
	end
	return n
end)

-- Leases of files being fetched, so that a machine booting while a peer
-- downloads a file waits for that peer rather than asking the origin too.
-- Only the holder renews or drops its lease; a holder that dies loses it
-- when the TTL runs out.
local LEASE_OPS = { take = true, peek = true, renew = true, drop = true }
redis.register_function('mm_peer_lease', function(keys, args)
	local op, self = args[1], args[2]
	if #args < 3 or not LEASE_OPS[op] or self == '' then
		error({ err = 'ERR mm_peer_lease: want take|peek|renew|drop self ttl_ms sha256...' })
	end
	local ttl = math.floor(positive_number(args[3], 15000, 'ttl_ms', 3600000))
	local out = {}
	for i = 4, #args do
		local key = 'mm:fetching:' .. args[i]
		local holder = redis.call('GET', key)
		if op == 'take' then
			if not holder then
				redis.call('SET', key, self, 'PX', ttl)
				holder = self
			elseif holder == self then
				redis.call('PEXPIRE', key, ttl)
			end
			out[#out + 1] = holder
		elseif op == 'peek' then
			out[#out + 1] = holder or ''
		elseif holder == self then
			if op == 'renew' then
				redis.call('PEXPIRE', key, ttl)
			else
				redis.call('DEL', key)
			end
			out[#out + 1] = 1
		else
			out[#out + 1] = 0
		end
	end
	return out
end)
