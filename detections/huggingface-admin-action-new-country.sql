-- Admin action from a country never seen for the actor (authorID: a user
-- name can change) in the lookback_days before its first admin action
-- judged. An actor with no located event in the lookback (a dormant admin
-- taken over) is compared with the organization's countries: reason
-- no_history. An organization with no located history is not judged.
-- Countries in allowed_countries (names as locationCountry gives them, any
-- case: the organization's offices) are never new. One finding per actor
-- (authorID) and run, under the actor's latest name; dedup_key holds the ID.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baseline is the actor's located events in the
-- lookback_days before its earliest judged admin action, whatever their
-- arrival (received before {to}). dedup_key is the actor and the finding's
-- first event.
WITH judged AS (
    SELECT workspaceID, authorID, authorUser, id, eventTime, eventName, locationCountry, actorIP
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND locationCountry != '' AND authorID != ''
      AND (startsWith(eventName, 'org.settings.') OR startsWith(eventName, 'billing.')
           OR startsWith(eventName, 'org.token_approval.')
           OR eventName IN ('org.update_settings', 'org.update_join_settings', 'org.change_role', 'org.add_user', 'org.remove_user',
                        'org.invite_user', 'org.delete', 'org.rename', 'org.rotate_token', 'org.audit_log.export',
                        'org.token_approval.enabled', 'org.token_approval.disabled',
                        'org.service_account.create', 'org.service_account.delete', 'org.service_account.token.create',
                        'org.service_account.token.delete', 'org.service_account.token.rotate', 'org.service_account.token.update',
                        'resource_group.create', 'resource_group.delete', 'resource_group.settings', 'resource_group.change_role',
                        'resource_group.add_users', 'resource_group.remove_users', 'repo.move', 'repo.duplication'))
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
    SELECT j.workspaceID AS workspaceID, j.authorID AS authorID, j.authorUser AS authorUser, j.id AS id, j.eventTime AS eventTime,
           j.eventName AS eventName, j.locationCountry AS locationCountry, j.actorIP AS actorIP,
           notEmpty(h.known_countries) AS has_history,
           if(has_history, h.known_countries, og.known_countries) AS known_countries
    FROM judged AS j
    LEFT JOIN history AS h ON j.workspaceID = h.workspaceID AND j.authorID = h.authorID
    INNER JOIN org_history AS og ON j.workspaceID = og.workspaceID
)
SELECT
    workspaceID AS organization,
    argMax(authorUser, (eventTime, id)) AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(locationCountry) AS new_countries,
    any(known_countries) AS familiar_countries,
    if(any(has_history), 'new_country', 'no_history') AS reason,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(actorIP) AS ips,
    concatWithSeparator('|', 'huggingface-admin-action-new-country', organization, authorID,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(id, (eventTime, id))) AS dedup_key
FROM compared
WHERE NOT has(known_countries, locationCountry)
  AND NOT has(arrayMap(c -> lower(trimBoth(c)), splitByChar(',', {allowed_countries:String})), lower(locationCountry))
GROUP BY organization, authorID
ORDER BY first_seen
