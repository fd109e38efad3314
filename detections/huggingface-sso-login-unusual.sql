-- An SSO login (org.sso_login) from a country never seen for the member
-- (authorID) in the lookback_days before it, or from a hosting network:
-- srcUserType 'hosting' (an enterprise IP database), or an AS organization
-- matching hosting_as_pattern (cloud and VPS providers). A member with no
-- located history is compared with the organization's countries (reason
-- no_history). Hosting is High, a new country Medium.
--
-- Framing (README, "Writing a detection"): the logins received in [from, to)
-- are judged; the baselines are the events in the lookback_days before the
-- member's (the organization's) earliest judged login. dedup_key is the
-- member and the finding's first login.
WITH judged AS (
    SELECT workspaceID, authorID, authorUser, id, eventTime, locationCountry, actorIP, srcASOrganization,
           srcUserType = 'hosting' OR (srcASOrganization != '' AND match(srcASOrganization, {hosting_as_pattern:String})) AS hosting
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName = 'org.sso_login' AND authorID != ''
),
starts AS (
    SELECT workspaceID, authorID, min(eventTime) AS lo FROM judged GROUP BY workspaceID, authorID
),
history AS (
    SELECT l.workspaceID AS workspaceID, l.authorID AS authorID, groupUniqArray(l.locationCountry) AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID AND l.authorID = s.authorID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
      AND l.locationCountry != ''
    GROUP BY workspaceID, authorID
),
orgs AS (
    SELECT workspaceID, min(lo) AS lo FROM starts GROUP BY workspaceID
),
org_history AS (
    SELECT l.workspaceID AS workspaceID, groupUniqArray(l.locationCountry) AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN orgs AS o ON l.workspaceID = o.workspaceID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= o.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < o.lo
      AND l.locationCountry != ''
    GROUP BY workspaceID
),
compared AS (
    SELECT j.workspaceID AS workspaceID, j.authorUser AS authorUser, j.id AS id, j.eventTime AS eventTime,
           j.locationCountry AS locationCountry, j.actorIP AS actorIP, j.srcASOrganization AS srcASOrganization, j.hosting AS hosting,
           notEmpty(h.known_countries) AS has_history,
           if(has_history, h.known_countries, og.known_countries) AS known_countries,
           j.locationCountry != '' AND notEmpty(known_countries) AND NOT has(known_countries, j.locationCountry) AS new_country
    FROM judged AS j
    LEFT JOIN history AS h ON j.workspaceID = h.workspaceID AND j.authorID = h.authorID
    LEFT JOIN org_history AS og ON j.workspaceID = og.workspaceID
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArrayIf(locationCountry, new_country) AS new_countries,
    groupUniqArrayIf(srcASOrganization, hosting) AS hosting_networks,
    any(known_countries) AS familiar_countries,
    groupUniqArray(actorIP) AS ips,
    multiIf(notEmpty(hosting_networks), 'hosting_network', any(has_history), 'new_country', 'no_history') AS reason,
    if(reason = 'hosting_network', 'High', 'Medium') AS severity,
    concatWithSeparator('|', 'huggingface-sso-login-unusual', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM compared
WHERE hosting OR new_country
GROUP BY organization, actor
ORDER BY first_seen
