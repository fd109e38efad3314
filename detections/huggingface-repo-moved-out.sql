SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupArray(JSONExtractString(rawLog, 'data', 'from')) AS moved_from,
    groupArray(JSONExtractString(rawLog, 'data', 'to')) AS moved_to
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName = 'repo.move'
       AND JSONExtractString(rawLog, 'data', 'to') != ''
       AND NOT startsWith(JSONExtractString(rawLog, 'data', 'to'), concat(workspaceID, '/')))
GROUP BY organization, actor
ORDER BY first_seen
