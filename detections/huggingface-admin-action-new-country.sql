-- Admin action from a country never seen for the actor in the lookback_days
-- before the range. Only actors with located history are judged.
WITH history AS (
    SELECT workspaceID, authorUser, groupUniqArray(locationCountry) AS known_countries
    FROM huggingface_logs FINAL
    WHERE eventTime >= {from:DateTime} - toIntervalDay({lookback_days:UInt32}) AND eventTime < {from:DateTime}
      AND locationCountry != '' AND authorUser != ''
    GROUP BY workspaceID, authorUser
)
SELECT
    l.workspaceID AS organization,
    l.authorUser AS actor,
    count() AS event_count,
    groupArray(l.id) AS event_ids,
    min(l.eventTime) AS first_seen,
    max(l.eventTime) AS last_seen,
    groupUniqArray(l.locationCountry) AS new_countries,
    any(h.known_countries) AS known_countries,
    groupUniqArray(l.eventName) AS event_names,
    groupUniqArray(l.actorIP) AS ips
FROM huggingface_logs AS l FINAL
INNER JOIN history AS h ON l.workspaceID = h.workspaceID AND l.authorUser = h.authorUser
WHERE l.eventTime >= {from:DateTime} AND l.eventTime < {to:DateTime}
  AND l.locationCountry != ''
  AND NOT has(h.known_countries, l.locationCountry)
  AND (startsWith(l.eventName, 'org.settings.') OR startsWith(l.eventName, 'billing.')
       OR startsWith(l.eventName, 'org.token_approval.')
       OR l.eventName IN ('org.update_settings', 'org.update_join_settings', 'org.change_role', 'org.add_user', 'org.remove_user',
                    'org.invite_user', 'org.delete', 'org.rename', 'org.rotate_token', 'org.audit_log.export',
                    'org.token_approval.enabled', 'org.token_approval.disabled',
                    'org.service_account.create', 'org.service_account.delete', 'org.service_account.token.create',
                    'org.service_account.token.delete', 'org.service_account.token.rotate', 'org.service_account.token.update',
                    'resource_group.create', 'resource_group.delete', 'resource_group.settings', 'resource_group.change_role',
                    'resource_group.add_users', 'resource_group.remove_users', 'repo.move'))
GROUP BY organization, actor
ORDER BY first_seen
