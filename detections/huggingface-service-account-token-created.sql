-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'serviceAccount')) AS service_accounts,
    concatWithSeparator('|', 'huggingface-service-account-token-created', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName IN ('org.service_account.token.create', 'org.service_account.token.rotate',
                     'org.service_account.token.update', 'org.rotate_token'))
GROUP BY organization, actor, id
ORDER BY first_seen
