-- SSO pointed at another identity provider: an SSO configuration event
-- (org.settings.sso, org.settings.sso.enable, or the legacy
-- org.update_settings with data.sso) whose provider differs from the last one
-- the organization's SSO events named in the lookback_days before it. Whoever
-- controls the new provider signs in as any member. The provider is
-- data.provider, data.sso.provider, data.idp or data.issuer, in lower case.
-- The provider is a label (okta, azure-ad): an attacker's own tenant of the
-- same product keeps it, so the identity provider's address is compared too:
-- data.metadataUrl, issuer, ssoUrl or entityId (or under data.sso), in lower
-- case, against the last one the organization's SSO events named (reason
-- idp_changed, High).
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
                         JSONExtractString(rawLog, 'data', 'issuer'))) AS provider,
           lower(arrayFirst(x -> x != '', arrayConcat(
               arrayMap(k -> JSONExtractString(rawLog, 'data', k), ['metadataUrl', 'issuer', 'ssoUrl', 'entityId']),
               arrayMap(k -> JSONExtractString(rawLog, 'data', 'sso', k), ['metadataUrl', 'issuer', 'ssoUrl', 'entityId'])))) AS endpoint
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
           j.actorIP AS actorIP, j.provider AS provider, j.endpoint AS endpoint,
           argMaxIf(p.provider, (p.eventTime, p.id), p.provider != '' AND (p.eventTime, p.id) < (j.eventTime, j.id)
                    AND p.eventTime >= j.eventTime - toIntervalDay({lookback_days:UInt32})) AS previous,
           argMaxIf(p.endpoint, (p.eventTime, p.id), p.endpoint != '' AND (p.eventTime, p.id) < (j.eventTime, j.id)
                    AND p.eventTime >= j.eventTime - toIntervalDay({lookback_days:UInt32})) AS previous_endpoint
    FROM judged AS j
    LEFT JOIN sso AS p ON j.workspaceID = p.workspaceID
    GROUP BY workspaceID, authorUser, id, eventTime, eventName, actorIP, provider, endpoint
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
    any(previous_endpoint) AS previous_idp,
    any(endpoint) AS new_idp,
    multiIf(new_provider != '' AND previous_provider != '' AND new_provider != previous_provider, 'provider_changed',
            new_idp != '' AND previous_idp != '' AND new_idp != previous_idp, 'idp_changed',
            new_provider = '', 'unknown_shape', 'no_history') AS reason,
    if(reason IN ('provider_changed', 'idp_changed'), 'High', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-sso-provider-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM compared
WHERE provider = '' OR previous = '' OR provider != previous
   OR (endpoint != '' AND previous_endpoint != '' AND endpoint != previous_endpoint)
GROUP BY organization, actor, id
ORDER BY first_seen
