-- A job's exposure changed (jobs.update_expose): a running job reachable from
-- the internet is a remote service on the organization's compute.
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
    any(JSONExtractRaw(rawLog, 'data')) AS data,
    concatWithSeparator('|', 'huggingface-job-exposed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND eventName = 'jobs.update_expose'
GROUP BY organization, actor, id
ORDER BY first_seen
