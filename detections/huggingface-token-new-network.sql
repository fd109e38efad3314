-- Token used from an AS or a country never seen for it in the lookback_days
-- before the first use judged. Only tokens with history are judged.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baseline is the token's events in the lookback_days before
-- its earliest judged event, whatever their arrival (received before {to}).
-- dedup_key is the token and the finding's first event.
WITH judged AS (
    SELECT workspaceID, tokenID, authorUser, id, eventTime, srcASNumber, srcASOrganization, locationCountry, tokenLast4, actorIP
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND tokenID != ''
),
starts AS (
    SELECT workspaceID, tokenID, min(eventTime) AS lo FROM judged GROUP BY workspaceID, tokenID
),
history AS (
    SELECT l.workspaceID AS workspaceID, l.tokenID AS tokenID,
           groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0) AS known_as,
           groupUniqArrayIf(l.locationCountry, l.locationCountry != '') AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID AND l.tokenID = s.tokenID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
    GROUP BY workspaceID, tokenID
)
SELECT
    l.workspaceID AS organization,
    l.authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(l.id)) AS event_ids,
    min(l.eventTime) AS first_seen,
    max(l.eventTime) AS last_seen,
    l.tokenID AS token_id,
    any(l.tokenLast4) AS token_last4,
    groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber)) AS new_as,
    groupUniqArrayIf(l.srcASOrganization, l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber)) AS new_as_organizations,
    groupUniqArrayIf(l.locationCountry, l.locationCountry != '' AND NOT has(h.known_countries, l.locationCountry)) AS new_countries,
    any(h.known_as) AS known_as,
    any(h.known_countries) AS known_countries,
    groupUniqArray(l.actorIP) AS ips,
    concatWithSeparator('|', 'huggingface-token-new-network', organization, actor, token_id,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(l.id, (l.eventTime, l.id))) AS dedup_key
FROM judged AS l
INNER JOIN history AS h ON l.workspaceID = h.workspaceID AND l.tokenID = h.tokenID
WHERE (l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber))
   OR (l.locationCountry != '' AND NOT has(h.known_countries, l.locationCountry))
GROUP BY organization, actor, token_id
ORDER BY first_seen
