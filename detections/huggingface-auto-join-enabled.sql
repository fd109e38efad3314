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
  AND (eventName IN ('org.settings.security.auto_join.enable', 'org.update_join_settings',
                     'org.join.from_domain', 'org.join.automatic')
       OR (eventName = 'org.update_settings' AND JSONExtractRaw(rawLog, 'data', 'security', 'auto_join', 'enabled') = 'true'))
GROUP BY organization, actor
ORDER BY first_seen
