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
  AND (startsWith(eventName, 'resource_group.')
       OR eventName IN ('repo.update_resource_group', 'collection.update_resource_group', 'org.settings.resource_groups')
       OR (eventName = 'org.update_settings' AND JSONHas(rawLog, 'data', 'resource_groups')))
GROUP BY organization, actor
ORDER BY first_seen
