-- A scheduled job that runs more than once an hour (the minute field of
-- data.schedule is '*', '*/N' with N < 60, a list or a range) was created or
-- rescheduled, or a scheduled job resumed: a beacon or a miner on the
-- organization's compute that runs whether or not the attacker still has
-- access. An event without data.schedule (a resume names none, or another
-- shape, or rawLog empty) is reported at Low with reason unknown_shape.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP,
           JSONExtractString(rawLog, 'data', 'schedule') AS schedule,
           splitByWhitespace(schedule)[1] AS minute,
           minute = '*' OR position(minute, ',') > 0 OR position(minute, '-') > 0
               OR (startsWith(minute, '*/') AND toUInt32OrZero(substring(minute, 3)) < 60) AS frequent
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('scheduled_job.create', 'scheduled_job.update_schedule', 'scheduled_job.resume')
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(eventName) AS event_name,
    any(actorIP) AS ip,
    any(schedule) AS job_schedule,
    if(job_schedule = '', 'unknown_shape', 'frequent_schedule') AS reason,
    if(reason = 'unknown_shape', 'Low', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-scheduled-job-persistence', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE frequent OR schedule = ''
GROUP BY organization, actor, id
ORDER BY first_seen
