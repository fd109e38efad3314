-- SSO pointed at another identity provider: an SSO configuration event
-- (org.settings.sso, org.settings.sso.enable, or the legacy
-- org.update_settings with data.sso) whose provider differs from the last one
-- the organization's SSO events named in the lookback_days before it. Whoever
-- controls the new provider signs in as any member. The provider is
-- data.provider, data.sso.provider, data.idp or data.issuer, in lower case.
-- An event that names no provider (another shape, or rawLog empty) is
-- reported at Medium with reason unknown_shape; the first provider an
-- organization names, with none before it, at Medium with reason no_history.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; the SSO events before it are looked up by eventTime,
-- whatever their arrival. dedup_key is the event.
WITH sso AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP, receivedAt, rawLog,
           lower(multiIf(JSONExtractString(rawLog, 'data', 'provider') != '', JSONExtractString(rawLog, 'data', 'provider'),
                         JSONExtractString(rawLog, 'data', 'sso', 'provider') != '', JSONExtractString(rawLog, 'data', 'sso', 'provider'),
                         JSONExtractString(rawLog, 'data', 'idp') != '', JSONExtractString(rawLog, 'data', 'idp'),
                         JSONExtractString(rawLog, 'data', 'issuer'))) AS provider
    FROM huggingface_logs FINAL
    WHERE receivedAt < {to:DateTime}
      AND (eventName IN ('org.settings.sso', 'org.settings.sso.enable', 'org.settings.sso.disable')
           OR (eventName = 'org.update_settings' AND JSONHas(rawLog, 'data', 'sso')))
),
judged AS (
    SELECT * FROM sso
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName != 'org.settings.sso.disable'
),
compared AS (
    SELECT j.workspaceID AS workspaceID, j.authorUser AS authorUser, j.id AS id, j.eventTime AS eventTime, j.eventName AS eventName,
           j.actorIP AS actorIP, j.provider AS provider,
           argMaxIf(p.provider, (p.eventTime, p.id), p.provider != '' AND (p.eventTime, p.id) < (j.eventTime, j.id)
                    AND p.eventTime >= j.eventTime - toIntervalDay({lookback_days:UInt32})) AS previous
    FROM judged AS j
    LEFT JOIN sso AS p ON j.workspaceID = p.workspaceID
    GROUP BY workspaceID, authorUser, id, eventTime, eventName, actorIP, provider
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(eventName) AS event_name,
    any(actorIP) AS ip,
    any(previous) AS previous_provider,
    any(provider) AS new_provider,
    multiIf(new_provider = '', 'unknown_shape', previous_provider = '', 'no_history', 'provider_changed') AS reason,
    if(reason = 'provider_changed', 'High', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-sso-provider-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM compared
WHERE provider = '' OR previous = '' OR provider != previous
GROUP BY organization, actor, id
ORDER BY first_seen
