-- A scheduled job was created, rescheduled or resumed: code that runs again
-- and again on the organization's compute, without anyone starting it.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(eventName) AS event_name,
    any(actorIP) AS ip,
    any(JSONExtractString(rawLog, 'data', 'schedule')) AS schedule,
    any(JSONExtractRaw(rawLog, 'data')) AS data,
    concatWithSeparator('|', 'huggingface-scheduled-job-persistence', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND eventName IN ('scheduled_job.create', 'scheduled_job.update_schedule', 'scheduled_job.resume')
GROUP BY organization, actor, id
ORDER BY first_seen
