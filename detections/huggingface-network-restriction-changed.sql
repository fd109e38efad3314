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
  AND (eventName IN ('org.settings.network.ip_restriction.disable', 'org.settings.network.auth_enforcement.disable',
                     'org.settings.network', 'org.settings.network.ip_restriction.enable')
       OR (eventName = 'org.update_settings' AND (
              JSONExtractRaw(rawLog, 'data', 'network', 'ip_restriction', 'enabled') = 'false'
           OR JSONExtractRaw(rawLog, 'data', 'network', 'auth_enforcement', 'enabled') = 'false'
           OR JSONHas(rawLog, 'data', 'network', 'ip_restriction', 'cidrs'))))
GROUP BY organization, actor
ORDER BY first_seen
