-- One finding per event: the events received in [from, to), each judged on
-- its own; dedup_key is the detection, the organization, the actor and the event.
-- A legacy org.update_settings whose data holds none of the settings areas
-- the pack knows (or whose rawLog is empty: include_raw false) may be this
-- change: it is reported at Medium, reason unknown_shape (the row's severity).
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(actorIP) AS ips,
    if(any(eventName) = 'org.update_settings' AND NOT any(decided), 'unknown_shape', 'disabled') AS reason,
    if(reason = 'unknown_shape', 'Medium', '') AS severity,
    concatWithSeparator('|', 'huggingface-2fa-enforcement-disabled', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND (eventName = 'org.settings.security.2fa.disable'
       OR (eventName = 'org.update_settings' AND ((JSONExtractRaw(rawLog, 'data', 'security', '2fa', 'enabled') = 'false') AS decided
            OR NOT arrayExists(k -> JSONHas(rawLog, 'data', k), ['sso', 'security', 'network', 'token_approval', 'inference_providers', 'join', 'resource_groups', 'profile', 'publisher_gating', 'regions']))))
GROUP BY organization, actor, id
ORDER BY first_seen
