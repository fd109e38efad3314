SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'serviceAccount')) AS service_accounts
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND (eventName IN ('org.service_account.token.create', 'org.service_account.token.rotate'))
GROUP BY organization, actor
ORDER BY first_seen
