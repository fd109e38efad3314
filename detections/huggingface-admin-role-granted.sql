-- The admin role granted: in the organization (org.change_role, org.add_user,
-- org.invite_user as admin) or in a resource group (resource_group.change_role,
-- resource_group.add_users). The role is data.role, or the role of any
-- element when data is a list of {user, role}; compared in lower case. An
-- event with no role to read (another shape, or rawLog empty with
-- include_raw false) is reported at Medium with reason unknown_shape.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP,
           arrayMap(r -> lower(r), arrayFilter(r -> r != '', arrayConcat(
               [JSONExtractString(rawLog, 'data', 'role')],
               arrayMap(x -> JSONExtractString(x, 'role'), JSONExtractArrayRaw(rawLog, 'data'))))) AS roles
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('org.change_role', 'org.add_user', 'org.invite_user', 'resource_group.change_role', 'resource_group.add_users')
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(actorIP) AS ips,
    if(empty(any(roles)), 'unknown_shape', 'admin_granted') AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-admin-role-granted', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE has(roles, 'admin') OR empty(roles)
GROUP BY organization, actor, id
ORDER BY first_seen
