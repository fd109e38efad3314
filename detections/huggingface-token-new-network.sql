-- Token used from an AS or a country never seen for it in the lookback_days
-- before the range. Only tokens with history are judged.
WITH history AS (
    SELECT workspaceID, tokenID,
           groupUniqArrayIf(srcASNumber, srcASNumber != 0) AS known_as,
           groupUniqArrayIf(locationCountry, locationCountry != '') AS known_countries
    FROM huggingface_logs FINAL
    WHERE eventTime >= {from:DateTime} - toIntervalDay({lookback_days:UInt32}) AND eventTime < {from:DateTime}
      AND tokenID != ''
    GROUP BY workspaceID, tokenID
)
SELECT
    l.workspaceID AS organization,
    l.authorUser AS actor,
    count() AS event_count,
    groupArray(l.id) AS event_ids,
    min(l.eventTime) AS first_seen,
    max(l.eventTime) AS last_seen,
    l.tokenID AS token_id,
    any(l.tokenLast4) AS token_last4,
    groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber)) AS new_as,
    groupUniqArrayIf(l.srcASOrganization, l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber)) AS new_as_organizations,
    groupUniqArrayIf(l.locationCountry, l.locationCountry != '' AND NOT has(h.known_countries, l.locationCountry)) AS new_countries,
    any(h.known_as) AS known_as,
    any(h.known_countries) AS known_countries,
    groupUniqArray(l.actorIP) AS ips
FROM huggingface_logs AS l FINAL
INNER JOIN history AS h ON l.workspaceID = h.workspaceID AND l.tokenID = h.tokenID
WHERE l.eventTime >= {from:DateTime} AND l.eventTime < {to:DateTime}
  AND ((l.srcASNumber != 0 AND NOT has(h.known_as, l.srcASNumber))
    OR (l.locationCountry != '' AND NOT has(h.known_countries, l.locationCountry)))
GROUP BY organization, actor, token_id
ORDER BY first_seen
