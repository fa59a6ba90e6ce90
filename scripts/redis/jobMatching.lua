#!lua name=jobMatching
-- mm-jobmatching: mm's library (scripts/redis/jobMatching.lua, mm-report
-- --install-job-matching); mm-report --restore-job-matching puts back the one it replaced.
--
-- jobMatching — the job queue's findMatchingJob, with the models (and
-- workflows) of the worker's machine taken from mm's inventory.
--
-- A drop-in for the library of the same name that the job queue ships
-- (emp-job-queue, redis-functions/functions/findMatchingJob.lua): the same
-- call, the same answer, the same checks and the same side effects.
--
--   FCALL findMatchingJob 0 <capabilities JSON> <max_scan> [<stale_after>]
--
-- returns {"jobId": <id>, "job": {<the job hash as read>}} as JSON, or nil.
--
-- The checks, in the deployed function's terms (see docs/job-queue.md):
--   capabilities.workflow_id     restricts the worker to jobs of that workflow
--   job.service_required         must be in capabilities.job_service_required_map
--   requirements (JSON in the job hash; text that does not parse counts as {})
--     positive = requirements.positive_requirements, else requirements itself:
--       hardware             gpu_memory_gb cpu_cores ram_gb: worker's at least the job's
--       customer_isolation   'strict' needs customer_access.isolation 'strict'; then
--                            job.customer_id must be in allowed_customers and not in
--                            denied_customers (when those lists are given)
--       models               see below
--       any other key        a custom capability, looked up in the capabilities by a
--                            dotted path: objects key by key, arrays must all be held,
--                            numbers at least, anything else equal
--     negative_requirements: hardware the worker has, or capabilities it holds, that
--                            the job refuses
--
-- Models.  The capabilities carry machine_id, mm's MACHINE_ID.  When that
-- machine's heartbeat in machines:models:heartbeat is at most stale_after
-- seconds old (default 120), the job's models — requirements.models and
-- requirements.positive_requirements.models, a list of names or one name;
-- "all", null or absent meaning none — must all be in the set
-- machine:<id>:model_names (SMISMEMBER; no JSON is decoded for the machine).
-- A job with no model list that names a workflow (job.workflow_id) which some
-- live machine publishes (workflows:index:<workflow>, the set of machines whose
-- machine:<id>:workflows holds it) goes only to a live machine that publishes
-- it.  Otherwise — no machine_id, no live inventory, or a workflow nobody
-- publishes — the deployed rule holds unchanged: the job's models must be in
-- capabilities.models[job.service_required].
--
-- Limits, so that one call stays bounded whatever the queue holds:
--   MAX_JOB_MODELS   a job naming more models than this is never claimed (it
--                    stays pending; mm-route explain says why)
--   MAX_MAX_SCAN     max_scan above this is taken as this; a max_scan that is
--                    not a number, or below 1, is the deployed default, 100
-- A claim costs at most max_scan x MAX_JOB_MODELS set lookups.
--
-- Where the deployed function raises a Lua error (capabilities without a
-- worker_id, requirements that parse to something other than an object,
-- hardware numbers compared with strings), this one gives a clear error
-- reply for the capabilities and treats the job's odd value as not matching.
--
-- Keys read: jobs:pending, job:<id>, machines:models:heartbeat,
--   machine:<id>:model_names, machine:<id>:workflows, workflows:index:<w>.
-- Keys written on a claim (as deployed): jobs:pending (ZREM), job:<id>
--   (status, worker_id, assigned_at), jobs:active:<worker> (id -> job JSON),
--   worker:<worker> (status, current_job_id, last_status_change); PUBLISH
--   job_claimed and update_job_progress; XADD progress:<id>.
-- No key can be declared: the deployed workers call it with none.

local DEFAULT_MAX_SCAN = 100
local MAX_MAX_SCAN = 1000
local DEFAULT_STALE_AFTER = 120
local MAX_JOB_MODELS = 256
local HEARTBEAT = 'machines:models:heartbeat'

-- Keys exactly 1..n (an empty table counts).
local function is_array(t)
	if type(t) ~= 'table' then
		return false
	end
	local n = 0
	for _ in pairs(t) do
		n = n + 1
	end
	for i = 1, n do
		if t[i] == nil then
			return false
		end
	end
	return true
end

local function contains(list, v)
	for _, x in ipairs(list) do
		if x == v then
			return true
		end
	end
	return false
end

-- The value at a dotted path ('a.b.c') in t, or nil.
local function at_path(t, path)
	local v = t
	for part in string.gmatch(tostring(path), '[^.]+') do
		if type(v) ~= 'table' or v[part] == nil then
			return nil
		end
		v = v[part]
	end
	return v
end

-- Does the worker's value w satisfy the required value r?
local function satisfies(w, r)
	if w == nil then
		return false
	end
	if is_array(r) then
		if not is_array(w) then
			return false
		end
		for _, item in ipairs(r) do
			if not contains(w, item) then
				return false
			end
		end
		return true
	end
	if is_array(w) then
		return contains(w, r)
	end
	if type(r) == 'number' then
		return type(w) == 'number' and w >= r
	end
	return w == r
end

local function has_capability(caps, key, required)
	local w = at_path(caps, key)
	if type(required) == 'table' and not is_array(required) then
		if type(w) ~= 'table' then
			return false
		end
		for k, v in pairs(required) do
			if not satisfies(w[k], v) then
				return false
			end
		end
		return true
	end
	return satisfies(w, required)
end

local function at_least(have, need)
	if not have then
		return false
	end
	if type(have) ~= type(need) or (type(have) ~= 'number' and type(have) ~= 'string') then
		return false
	end
	return have >= need
end

local function hardware_ok(whw, need)
	if type(need) ~= 'table' then
		return true
	end
	if type(whw) ~= 'table' then
		whw = {}
	end
	for _, k in ipairs({ 'gpu_memory_gb', 'cpu_cores', 'ram_gb' }) do
		local n = need[k]
		if n and n ~= 'all' and not at_least(whw[k], n) then
			return false
		end
	end
	return true
end

local function customer_ok(access, isolation, customer)
	if type(access) ~= 'table' then
		access = {}
	end
	if isolation == 'strict' and access.isolation ~= 'strict' then
		return false
	end
	if customer then
		if type(access.allowed_customers) == 'table' and not contains(access.allowed_customers, customer) then
			return false
		end
		if type(access.denied_customers) == 'table' and contains(access.denied_customers, customer) then
			return false
		end
	end
	return true
end

-- The deployed model rule: every name in capabilities.models[service].
local function deployed_models_ok(caps_models, required, service)
	if type(required) ~= 'table' then
		return true
	end
	if type(caps_models) ~= 'table' then
		caps_models = {}
	end
	local have = caps_models[service] or {}
	if type(have) ~= 'table' then
		return false
	end
	for _, m in ipairs(required) do
		if not contains(have, m) then
			return false
		end
	end
	return true
end

-- Add the names of one models value to out; 'bad' for an entry no disk can
-- hold.  "all", null or absent add nothing.
local function add_names(v, out, seen)
	if v == nil or v == cjson.null or v == 'all' then
		return
	end
	if type(v) == 'string' or type(v) == 'number' then
		v = { v }
	end
	if type(v) ~= 'table' then
		return
	end
	for _, name in ipairs(v) do
		if type(name) == 'number' then
			name = tostring(name)
		end
		if type(name) ~= 'string' then
			out.bad = true
		elseif not seen[name] then
			seen[name] = true
			out.n = out.n + 1
			if out.n <= MAX_JOB_MODELS then
				out[out.n] = name
			end
		end
	end
end

-- The models a job names, over both places they may be: a list (n, and bad
-- when an entry is not a name).
local function job_model_names(req)
	local out, seen = { n = 0 }, {}
	add_names(req.models, out, seen)
	if type(req.positive_requirements) == 'table' then
		add_names(req.positive_requirements.models, out, seen)
	end
	return out
end

-- Per call: the worker's machine and what has been looked up about it.
local function new_machine(caps, stale_after, now)
	local m = { live = false, have = {}, wf = {}, published = {}, now = now,
		stale_after = stale_after }
	local id = caps.machine_id
	if type(id) == 'number' then
		id = tostring(id)
	end
	if type(id) ~= 'string' or id == '' then
		return m
	end
	m.id = id
	local score = redis.call('ZSCORE', HEARTBEAT, id)
	m.live = score ~= false and score ~= nil and now - tonumber(score) <= stale_after
	return m
end

local function holds_models(m, names)
	local ask = {}
	for i = 1, names.n do
		local n = names[i]
		if m.have[n] == false then
			return false
		end
		if m.have[n] == nil then
			ask[#ask + 1] = n
		end
	end
	if #ask > 0 then
		-- #ask <= MAX_JOB_MODELS: one bounded unpack.
		local r = redis.call('SMISMEMBER', 'machine:' .. m.id .. ':model_names', unpack(ask))
		local all = true
		for i, n in ipairs(ask) do
			m.have[n] = r[i] == 1
			all = all and m.have[n]
		end
		return all
	end
	return true
end

local function publishes(m, wf)
	if m.wf[wf] == nil then
		m.wf[wf] = redis.call('SISMEMBER', 'machine:' .. m.id .. ':workflows', wf) == 1
	end
	return m.wf[wf]
end

-- Does any live machine publish workflow wf?
local function published_live(m, wf)
	if m.published[wf] == nil then
		local found = false
		local cursor = '0'
		repeat
			local r = redis.call('SSCAN', 'workflows:index:' .. wf, cursor, 'COUNT', 100)
			cursor = r[1]
			for _, id in ipairs(r[2]) do
				local s = redis.call('ZSCORE', HEARTBEAT, id)
				if s and m.now - tonumber(s) <= m.stale_after then
					found = true
					break
				end
			end
		until found or cursor == '0'
		m.published[wf] = found
	end
	return m.published[wf]
end

-- The model (and workflow) check: mm's inventory while it is live, the
-- deployed rule otherwise.
local function models_ok(caps, job, req, positive, m)
	local names = job_model_names(req)
	if names.n > MAX_JOB_MODELS then
		return false
	end
	if m.live and (names.n > 0 or names.bad) then
		return not names.bad and holds_models(m, names)
	end
	if names.n == 0 and not names.bad then
		local wf = job.workflow_id
		if wf and wf ~= '' then
			if m.live and publishes(m, wf) then
				return true
			end
			if published_live(m, wf) then
				return false
			end
		end
		if m.live then
			return true
		end
	end
	local pm = positive.models
	if pm and pm ~= 'all' then
		return deployed_models_ok(caps.models, pm, job.service_required)
	end
	return true
end

local function matches(caps, job, m)
	local req = {}
	if job.requirements and job.requirements ~= '' then
		local ok, parsed = pcall(cjson.decode, job.requirements)
		if ok and type(parsed) == 'table' then
			req = parsed
		else
			redis.log(redis.LOG_WARNING, 'Failed to parse job requirements: ' .. job.requirements)
		end
	end

	local wwf = caps.workflow_id
	if wwf and wwf ~= '' then
		if not job.workflow_id or job.workflow_id == '' or job.workflow_id ~= wwf then
			return false
		end
	end

	if job.service_required then
		local map = caps.job_service_required_map
		if type(map) ~= 'table' or not contains(map, job.service_required) then
			return false
		end
	end

	local positive = req.positive_requirements or req
	if type(positive) ~= 'table' then
		positive = {}
	end
	if positive.hardware and not hardware_ok(caps.hardware, positive.hardware) then
		return false
	end
	if positive.customer_isolation and
		not customer_ok(caps.customer_access, positive.customer_isolation, job.customer_id) then
		return false
	end
	if not models_ok(caps, job, req, positive, m) then
		return false
	end
	for key, required in pairs(positive) do
		if key ~= 'service_type' and key ~= 'hardware' and key ~= 'customer_isolation' and key ~= 'models' then
			if not has_capability(caps, key, required) then
				return false
			end
		end
	end

	local negative = req.negative_requirements
	if type(negative) == 'table' then
		for key, refused in pairs(negative) do
			if key == 'hardware' then
				if type(caps.hardware) == 'table' and type(refused) == 'table' then
					for k, v in pairs(refused) do
						local w = caps.hardware[k]
						if w and satisfies(w, v) then
							return false
						end
					end
				end
			elseif has_capability(caps, key, refused) then
				return false
			end
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

local function claim(id, job, worker)
	local t = redis.call('TIME')
	local secs = tonumber(t[1])
	local ts = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
	redis.call('HSET', 'job:' .. id, 'status', 'assigned', 'worker_id', worker, 'assigned_at', ts)
	redis.call('HSET', 'jobs:active:' .. worker, id, cjson.encode(job))
	redis.call('HSET', 'worker:' .. worker, 'status', 'busy', 'current_job_id', id,
		'last_status_change', ts)
	redis.call('PUBLISH', 'job_claimed', cjson.encode({
		job_id = id,
		worker_id = worker,
		status = 'claimed',
		message = 'Job claimed by worker',
		claimed_at = ts,
		timestamp = secs * 1000,
		service_required = job.service_required,
		customer_id = job.customer_id,
		workflow_id = job.workflow_id,
		step_number = job.step_number,
		total_steps = job.total_steps,
	}))
	redis.call('PUBLISH', 'update_job_progress', cjson.encode({
		job_id = id,
		worker_id = worker,
		progress = 0,
		timestamp = secs * 1000,
	}))
	redis.call('XADD', 'progress:' .. id, '*', 'job_id', id, 'worker_id', worker,
		'status', 'assigned', 'progress', '0', 'message', 'Job assigned to worker',
		'assigned_at', ts)
end

redis.register_function('findMatchingJob', function(keys, args)
	local text = args[1]
	local ok, caps = pcall(cjson.decode, text or '')
	if not ok or type(caps) ~= 'table' then
		error({ err = 'ERR findMatchingJob: the capabilities are not a JSON object' })
	end
	local worker = caps.worker_id
	if type(worker) == 'number' then
		worker = tostring(worker)
	end
	if type(worker) ~= 'string' or worker == '' then
		error({ err = 'ERR findMatchingJob: the capabilities have no worker_id' })
	end
	local max_scan = tonumber(args[2])
	if not max_scan or max_scan < 1 then
		max_scan = DEFAULT_MAX_SCAN
	end
	max_scan = math.min(math.floor(max_scan), MAX_MAX_SCAN)
	local stale_after = tonumber(args[3])
	if not stale_after or stale_after <= 0 then
		stale_after = DEFAULT_STALE_AFTER
	end
	redis.log(redis.LOG_NOTICE, 'Worker ' .. worker .. ' requesting job with capabilities: ' .. text)

	local ids = redis.call('ZREVRANGE', 'jobs:pending', 0, max_scan - 1)
	if #ids == 0 then
		return nil
	end
	local m = new_machine(caps, stale_after, tonumber(redis.call('TIME')[1]))
	for _, id in ipairs(ids) do
		local flat = redis.call('HGETALL', 'job:' .. id)
		if #flat == 0 then
			redis.log(redis.LOG_WARNING, 'Job ' .. id .. ' not found in hash')
		else
			local job = hash_table(flat)
			if matches(caps, job, m) and redis.call('ZREM', 'jobs:pending', id) == 1 then
				claim(id, job, worker)
				redis.log(redis.LOG_NOTICE, 'Worker ' .. worker .. ' successfully claimed job ' .. id)
				return cjson.encode({ jobId = id, job = job })
			end
		end
	end
	return nil
end)

-- FCALL_RO jobMatchingExplain 0 <job id> [<stale_after>]
-- What findMatchingJob makes of a job's models and workflow, for mm-route
-- explain: {job_id, model_count, model_limit, workflow_id, published_by
-- (live machines publishing its workflow, when it has no model list),
-- reason (why it stays pending, or who alone can get it; absent otherwise)}
-- as JSON, or nil when there is no such job.
redis.register_function{
	function_name = 'jobMatchingExplain',
	flags = { 'no-writes' },
	callback = function(keys, args)
		local id = args[1]
		if not id then
			error({ err = 'ERR jobMatchingExplain: want job_id [stale_after]' })
		end
		local stale_after = tonumber(args[2])
		if not stale_after or stale_after <= 0 then
			stale_after = DEFAULT_STALE_AFTER
		end
		local flat = redis.call('HGETALL', 'job:' .. id)
		if #flat == 0 then
			return nil
		end
		local job = hash_table(flat)
		local req = {}
		if job.requirements and job.requirements ~= '' then
			local ok, parsed = pcall(cjson.decode, job.requirements)
			if ok and type(parsed) == 'table' then
				req = parsed
			end
		end
		local names = job_model_names(req)
		local out = { job_id = id, model_count = names.n, model_limit = MAX_JOB_MODELS }
		if names.n > MAX_JOB_MODELS then
			out.reason = 'names ' .. names.n .. ' models, more than findMatchingJob\'s limit of ' ..
				MAX_JOB_MODELS .. ': no worker gets it; it stays pending'
		elseif names.bad then
			out.reason = 'a model in its list is not a name: no machine with an mm inventory gets it'
		end
		local wf = job.workflow_id
		if wf and wf ~= '' then
			out.workflow_id = wf
			if names.n == 0 and not names.bad then
				local now = tonumber(redis.call('TIME')[1])
				local live = {}
				local cursor = '0'
				repeat
					local r = redis.call('SSCAN', 'workflows:index:' .. wf, cursor, 'COUNT', 100)
					cursor = r[1]
					for _, m in ipairs(r[2]) do
						local s = redis.call('ZSCORE', HEARTBEAT, m)
						if s and now - tonumber(s) <= stale_after then
							live[#live + 1] = m
						end
					end
				until cursor == '0'
				table.sort(live)
				if #live > 0 then
					out.published_by = live
					out.reason = 'no model list; workflow ' .. wf .. ' is published by ' ..
						table.concat(live, ', ') .. ': only workers on those machines get it'
				end
			end
		end
		return cjson.encode(out)
	end,
}
