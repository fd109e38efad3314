-- Admin action from a country never seen for the actor in the lookback_days
-- before its first admin action judged. Only actors with located history are
-- judged.
--
-- Framing (README, "Writing a detection"): the events received in [from, to)
-- are judged; the baseline is the actor's located events in the
-- lookback_days before its earliest judged admin action, whatever their
-- arrival (received before {to}). dedup_key is the actor and the finding's
-- first event.
WITH judged AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, locationCountry, actorIP
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND locationCountry != '' AND authorUser != ''
      AND (startsWith(eventName, 'org.settings.') OR startsWith(eventName, 'billing.')
           OR startsWith(eventName, 'org.token_approval.')
           OR eventName IN ('org.update_settings', 'org.update_join_settings', 'org.change_role', 'org.add_user', 'org.remove_user',
                        'org.invite_user', 'org.delete', 'org.rename', 'org.rotate_token', 'org.audit_log.export',
                        'org.token_approval.enabled', 'org.token_approval.disabled',
                        'org.service_account.create', 'org.service_account.delete', 'org.service_account.token.create',
                        'org.service_account.token.delete', 'org.service_account.token.rotate', 'org.service_account.token.update',
                        'resource_group.create', 'resource_group.delete', 'resource_group.settings', 'resource_group.change_role',
                        'resource_group.add_users', 'resource_group.remove_users', 'repo.move'))
),
starts AS (
    SELECT workspaceID, authorUser, min(eventTime) AS lo FROM judged GROUP BY workspaceID, authorUser
),
history AS (
    SELECT l.workspaceID AS workspaceID, l.authorUser AS authorUser, groupUniqArray(l.locationCountry) AS known_countries
    FROM huggingface_logs AS l FINAL
    INNER JOIN starts AS s ON l.workspaceID = s.workspaceID AND l.authorUser = s.authorUser
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventTime >= s.lo - toIntervalDay({lookback_days:UInt32}) AND l.eventTime < s.lo
      AND l.locationCountry != ''
    GROUP BY workspaceID, authorUser
)
SELECT
    l.workspaceID AS organization,
    l.authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(l.id)) AS event_ids,
    min(l.eventTime) AS first_seen,
    max(l.eventTime) AS last_seen,
    groupUniqArray(l.locationCountry) AS new_countries,
    any(h.known_countries) AS known_countries,
    groupUniqArray(l.eventName) AS event_names,
    groupUniqArray(l.actorIP) AS ips,
    concatWithSeparator('|', 'huggingface-admin-action-new-country', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), argMin(l.id, (l.eventTime, l.id))) AS dedup_key
FROM judged AS l
INNER JOIN history AS h ON l.workspaceID = h.workspaceID AND l.authorUser = h.authorUser
WHERE NOT has(h.known_countries, l.locationCountry)
GROUP BY organization, actor
ORDER BY first_seen
