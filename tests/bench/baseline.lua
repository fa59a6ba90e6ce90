#!lua name=mmbaseline
--
-- The job matcher of the plan mm replaces (its find-matching-job.lua), for
-- case 5 of the benchmarks: for every pending job it looks at, it reads the
-- machine's models JSON (HGET machine:<id>:models models), decodes it, and
-- searches it name by name.  Claiming is the same as mm_find_matching_job's,
-- so both functions claim the same jobs from the same data.
--
--   FCALL baseline_find_matching_job 0 machine worker service [max_scan]

local function hasModel(models, name)
	for _, m in ipairs(models) do
		if m.name == name then
			return true
		end
	end
	return false
end

local function hasRequiredModels(machineId, jobRequiredModels)
	if not jobRequiredModels or #jobRequiredModels == 0 then
		return true
	end
	local workerModels = redis.call('HGET', 'machine:' .. machineId .. ':models', 'models')
	if not workerModels then
		return false
	end
	local models = cjson.decode(workerModels)
	for _, requiredModel in ipairs(jobRequiredModels) do
		if not hasModel(models, requiredModel) then
			return false
		end
	end
	return true
end

local function requiredModels(reqJson)
	if not reqJson or reqJson == '' then
		return {}
	end
	local ok, req = pcall(cjson.decode, reqJson)
	if not ok or type(req) ~= 'table' then
		return nil
	end
	local list = req.models
	if type(req.positive_requirements) == 'table' and req.positive_requirements.models then
		list = req.positive_requirements.models
	end
	if list == nil or list == 'all' then
		return {}
	end
	if type(list) == 'string' then
		return { list }
	end
	return list
end

redis.register_function('baseline_find_matching_job', function(keys, args)
	local machineId, workerId, service = args[1], args[2], args[3]
	local maxScan = tonumber(args[4] or '100')
	local ids = redis.call('ZREVRANGE', 'jobs:pending', 0, maxScan - 1)
	for _, id in ipairs(ids) do
		local job = {}
		local flat = redis.call('HGETALL', 'job:' .. id)
		for i = 1, #flat, 2 do
			job[flat[i]] = flat[i + 1]
		end
		local svc = job.service_required
		if (not svc or svc == '' or svc == service) then
			local need = requiredModels(job.requirements)
			if need and hasRequiredModels(machineId, need) then
				local t = redis.call('TIME')
				redis.call('ZREM', 'jobs:pending', id)
				redis.call('HSET', 'job:' .. id, 'status', 'assigned', 'worker_id', workerId,
					'assigned_at', t[1] .. '.' .. t[2])
				job.status, job.worker_id = 'assigned', workerId
				redis.call('HSET', 'jobs:active:' .. workerId, id, cjson.encode(job))
				return cjson.encode({ jobId = id, job = job })
			end
		end
	end
	return nil
end)
