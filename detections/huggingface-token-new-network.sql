-- Token used from an AS or a country never seen for it in the lookback_days
-- before its first use judged. A token with no use in the lookback (a token
-- just minted, the attacker's favourite) is compared with its owner's
-- history (authorID: every event, with any token or none), and when the
-- owner has none either, with the organization's: reason no_history. A token
-- with no history is judged only once the organization's history covers
-- the whole lookback (its first event is lookback_days or more before the
-- token's first use): on a fresh install every token would be new.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baselines are the events in the lookback_days before the
-- token's (owner's, organization's) earliest judged event, whatever their
-- arrival (received before {to}). dedup_key is the token and the finding's
-- first event.
WITH judged AS (
    SELECT workspaceID, tokenID, authorID, authorUser, id, eventTime, srcASNumber, srcASOrganization, locationCountry, tokenLast4, actorIP
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND tokenID != ''
),
starts AS (
    SELECT workspaceID, tokenID, any(authorID) AS owner, min(eventTime) AS lo FROM judged GROUP BY workspaceID, tokenID
),
token_history AS (
    SELECT l.workspaceID AS workspaceID, l.tokenID AS tokenID, count() AS n,
           groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0) AS known_as,
           groupUniqArrayIf(l.locationCountry, l.locationCountry != '') AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID AND l.tokenID = s.tokenID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
    GROUP BY workspaceID, tokenID
),
owners AS (
    SELECT workspaceID, owner, min(lo) AS lo FROM starts GROUP BY workspaceID, owner
),
owner_history AS (
    SELECT l.workspaceID AS workspaceID, l.authorID AS owner, count() AS n,
           groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0) AS known_as,
           groupUniqArrayIf(l.locationCountry, l.locationCountry != '') AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN owners AS o ON l.workspaceID = o.workspaceID AND l.authorID = o.owner
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= o.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < o.lo
    GROUP BY workspaceID, owner
),
orgs AS (
    SELECT workspaceID, min(lo) AS lo FROM starts GROUP BY workspaceID
),
org_history AS (
    SELECT l.workspaceID AS workspaceID, count() AS n,
           groupUniqArrayIf(l.srcASNumber, l.srcASNumber != 0) AS known_as,
           groupUniqArrayIf(l.locationCountry, l.locationCountry != '') AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN orgs AS o ON l.workspaceID = o.workspaceID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= o.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < o.lo
      AND l.tags['self_export'] != 'true'
    GROUP BY workspaceID
),
org_first AS (
    SELECT workspaceID, min(eventTime) AS since
    FROM huggingface_logs FINAL
    WHERE receivedAt < {to:DateTime} AND workspaceID IN (SELECT workspaceID FROM orgs)
    GROUP BY workspaceID
),
compared AS (
    SELECT j.workspaceID AS workspaceID, j.tokenID AS tokenID, j.authorUser AS authorUser, j.id AS id, j.eventTime AS eventTime,
           j.srcASNumber AS srcASNumber, j.srcASOrganization AS srcASOrganization, j.locationCountry AS locationCountry,
           j.tokenLast4 AS tokenLast4, j.actorIP AS actorIP,
           multiIf(th.n > 0, 'token', oh.n > 0, 'owner', 'organization') AS baseline,
           multiIf(th.n > 0, th.known_as, oh.n > 0, oh.known_as, og.known_as) AS known_as,
           multiIf(th.n > 0, th.known_countries, oh.n > 0, oh.known_countries, og.known_countries) AS known_countries,
           og.n AS org_n,
           th.n > 0 OR of.since <= j.eventTime - toIntervalDay({lookback_days:UInt32}) AS judgeable
    FROM judged AS j
    LEFT JOIN token_history AS th ON j.workspaceID = th.workspaceID AND j.tokenID = th.tokenID
    LEFT JOIN owner_history AS oh ON j.workspaceID = oh.workspaceID AND j.authorID = oh.owner
    LEFT JOIN org_history AS og ON j.workspaceID = og.workspaceID
    LEFT JOIN org_first AS of ON j.workspaceID = of.workspaceID
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    tokenID AS token_id,
    any(tokenLast4) AS token_last4,
    if(any(baseline) = 'token', 'new_network', 'no_history') AS reason,
    any(baseline) AS compared_with,
    groupUniqArrayIf(srcASNumber, srcASNumber != 0 AND NOT has(known_as, srcASNumber)) AS new_as,
    groupUniqArrayIf(srcASOrganization, srcASNumber != 0 AND NOT has(known_as, srcASNumber)) AS new_as_organizations,
    groupUniqArrayIf(locationCountry, locationCountry != '' AND NOT has(known_countries, locationCountry)) AS new_countries,
    any(known_as) AS known_as_numbers,
    any(known_countries) AS known_country_names,
    groupUniqArray(actorIP) AS ips,
    concatWithSeparator('|', 'huggingface-token-new-network', organization, actor, token_id,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM compared
WHERE org_n > 0 AND judgeable
  -- The deployment's own networks (VPN, CI provider) are never new.
  AND NOT has(arrayMap(x -> toUInt32OrZero(x), splitByChar(',', replaceAll({allowed_networks:String}, ' ', ''))), srcASNumber)
  AND ((srcASNumber != 0 AND NOT has(known_as, srcASNumber))
    OR (locationCountry != '' AND NOT has(known_countries, locationCountry)))
GROUP BY organization, actor, token_id
ORDER BY first_seen
