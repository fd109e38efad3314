-- An exposure setting of the organization changed: publisher gating
-- (org.settings.publisher_gating), the privacy of the member list
-- (org.settings.security.members_privacy.disable) or the storage regions
-- (org.settings.regions).
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(eventName) AS event_name,
    any(actorIP) AS ip,
    any(JSONExtractRaw(rawLog, 'data')) AS data,
    concatWithSeparator('|', 'huggingface-exposure-setting-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND eventName IN ('org.settings.publisher_gating', 'org.settings.security.members_privacy.disable', 'org.settings.regions')
GROUP BY organization, actor, id
ORDER BY first_seen
