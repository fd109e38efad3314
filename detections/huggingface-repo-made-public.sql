-- A repository made public (repo.update_settings with settings.private, or
-- data.private, false, also written as a string; or settings.visibility
-- public) or the organization's default visibility set to public (June 2026
-- and legacy events). Values compare in lower case. A repo.update_settings
-- with neither settings nor private, or a visibility event without
-- visibility (another shape, or rawLog empty with include_raw false), is
-- reported at Medium with reason unknown_shape; one whose private flag is
-- neither a boolean nor "true"/"false" (0, an object), with reason
-- unknown_flag.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP, rawLog,
           -- The private flags, as JSON text in lower case (false, "false", ...).
           [lower(JSONExtractRaw(rawLog, 'data', 'settings', 'private')), lower(JSONExtractRaw(rawLog, 'data', 'private'))] AS flags,
           multiIf(eventName = 'repo.update_settings',
                       hasAny(flags, ['false', '"false"']) OR lower(JSONExtractString(rawLog, 'data', 'settings', 'visibility')) = 'public',
                   eventName = 'org.settings.security.repo_visibility',
                       lower(JSONExtractString(rawLog, 'data', 'visibility')) = 'public',
                   lower(JSONExtractString(rawLog, 'data', 'security', 'repo_visibility')) = 'public') AS public,
           eventName = 'repo.update_settings' AND arrayExists(f -> f NOT IN ('', 'null', 'true', 'false', '"true"', '"false"'), flags) AS odd_flag,
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
    multiIf(any(unknown_shape), 'unknown_shape', any(odd_flag) AND NOT any(public), 'unknown_flag', 'made_public') AS reason,
    if(reason = 'made_public', 'High', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-repo-made-public', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE public OR unknown_shape OR odd_flag
GROUP BY organization, actor, id
ORDER BY first_seen
