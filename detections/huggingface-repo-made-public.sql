SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND ((eventName = 'repo.update_settings' AND JSONExtractRaw(rawLog, 'data', 'settings', 'private') = 'false')
       OR (eventName = 'org.settings.security.repo_visibility' AND JSONExtractString(rawLog, 'data', 'visibility') = 'public')
       OR (eventName = 'org.update_settings' AND JSONExtractString(rawLog, 'data', 'security', 'repo_visibility') = 'public'))
GROUP BY organization, actor
ORDER BY first_seen
