SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS spaces,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'hardware', 'to')) AS hardware
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName = 'spaces.update_hardware'
       AND JSONExtractString(rawLog, 'data', 'hardware', 'to') != ''
       AND NOT startsWith(JSONExtractString(rawLog, 'data', 'hardware', 'to'), 'cpu'))
GROUP BY organization, actor
ORDER BY first_seen
