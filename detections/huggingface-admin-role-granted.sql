SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(actorIP) AS ips
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND ((eventName IN ('org.change_role', 'org.add_user', 'resource_group.change_role')
            AND JSONExtractString(rawLog, 'data', 'role') = 'admin')
       OR (eventName = 'resource_group.add_users'
            AND arrayExists(x -> JSONExtractString(x, 'role') = 'admin', JSONExtractArrayRaw(rawLog, 'data'))))
GROUP BY organization, actor
ORDER BY first_seen
