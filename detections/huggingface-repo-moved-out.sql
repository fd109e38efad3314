-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupArray(JSONExtractString(rawLog, 'data', 'from')) AS moved_from,
    groupArray(JSONExtractString(rawLog, 'data', 'to')) AS moved_to,
    concatWithSeparator('|', 'huggingface-repo-moved-out', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName = 'repo.move'
       AND JSONExtractString(rawLog, 'data', 'to') != ''
       AND NOT startsWith(JSONExtractString(rawLog, 'data', 'to'), concat(workspaceID, '/')))
GROUP BY organization, actor, id
ORDER BY first_seen
