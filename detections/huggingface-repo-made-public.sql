-- A repository made public (repo.update_settings with settings.private, or
-- data.private, false) or the organization's default visibility set to
-- public (June 2026 and legacy events). Values compare in lower case. A
-- repo.update_settings with neither settings nor private, or a visibility
-- event without visibility (another shape, or rawLog empty with include_raw
-- false), is reported at Medium with reason unknown_shape.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP, rawLog,
           multiIf(eventName = 'repo.update_settings',
                       JSONExtractRaw(rawLog, 'data', 'settings', 'private') = 'false' OR JSONExtractRaw(rawLog, 'data', 'private') = 'false',
                   eventName = 'org.settings.security.repo_visibility',
                       lower(JSONExtractString(rawLog, 'data', 'visibility')) = 'public',
                   lower(JSONExtractString(rawLog, 'data', 'security', 'repo_visibility')) = 'public') AS public,
           multiIf(eventName = 'repo.update_settings',
                       NOT JSONHas(rawLog, 'data', 'settings') AND NOT JSONHas(rawLog, 'data', 'private'),
                   eventName = 'org.settings.security.repo_visibility',
                       NOT JSONHas(rawLog, 'data', 'visibility'),
                   false) AS unknown_shape
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('repo.update_settings', 'org.settings.security.repo_visibility', 'org.update_settings')
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'repo', 'name')) AS repos,
    groupUniqArray(actorIP) AS ips,
    if(any(unknown_shape), 'unknown_shape', 'made_public') AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-repo-made-public', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE public OR unknown_shape
GROUP BY organization, actor, id
ORDER BY first_seen
