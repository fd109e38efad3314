-- The collector cut off: its own Hub token deleted, rotated or changed, or its
-- service account deleted (reason collector_token); its account removed from
-- the organization (org.remove_user, collector_removed); its role changed to
-- anything but admin, the only role that may export the audit log
-- (org.change_role, collector_role_lowered); or its token's approval revoked
-- or denied (org.token_approval.authorization_request.revoked / .denied,
-- collector_token_approval). The audit log export stops (401 or 403), and
-- whoever did it may act unseen. The collector's tokens and token owners are
-- those of the exports the receiver marked as its own (tags['self_export']).
-- A token or token-approval event whose data names no token and no service
-- account or user (org.rotate_token, another shape, rawLog empty), and a role
-- change of the collector's account with no role to read, are reported at
-- Medium, reason unknown_shape. A removal or role change whose data names no
-- user cannot be tied to the collector and is left to
-- huggingface-bulk-member-removal and huggingface-admin-role-granted.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH collector AS (
    SELECT DISTINCT workspaceID, tokenID, authorUser
    FROM huggingface_logs FINAL
    WHERE receivedAt < {to:DateTime} AND eventName = 'org.audit_log.export' AND tags['self_export'] = 'true'
),
events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP,
           JSONExtractString(rawLog, 'data', 'tokenId') AS data_token,
           JSONExtractString(rawLog, 'data', 'serviceAccount') AS data_account,
           JSONExtractString(rawLog, 'data', 'user') AS data_user,
           lower(JSONExtractString(rawLog, 'data', 'role')) AS data_role,
           (data_token != '' AND (workspaceID, data_token) IN (SELECT workspaceID, tokenID FROM collector)) AS is_collector_token,
           (data_account != '' AND (workspaceID, data_account) IN (SELECT workspaceID, authorUser FROM collector)) AS is_collector_account,
           (data_user != '' AND (workspaceID, lower(data_user)) IN (SELECT workspaceID, lower(authorUser) FROM collector)) AS is_collector_user
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName IN ('org.service_account.token.delete', 'org.service_account.token.rotate', 'org.service_account.token.update',
                        'org.service_account.delete', 'org.rotate_token', 'org.remove_user', 'org.change_role',
                        'org.token_approval.authorization_request.revoked', 'org.token_approval.authorization_request.denied')
),
reasoned AS (
    SELECT *, multiIf(
        eventName = 'org.remove_user', if(is_collector_user, 'collector_removed', ''),
        eventName = 'org.change_role', multiIf(NOT is_collector_user, '', data_role = '', 'unknown_shape', data_role != 'admin', 'collector_role_lowered', ''),
        startsWith(eventName, 'org.token_approval.'),
            multiIf(is_collector_token OR (data_token = '' AND is_collector_user), 'collector_token_approval',
                    data_token = '' AND data_user = '', 'unknown_shape', ''),
        multiIf(is_collector_token OR is_collector_account, 'collector_token',
                data_token = '' AND data_account = '', 'unknown_shape', '')) AS why
    FROM events
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
    any(data_token) AS token_id,
    any(data_account) AS service_account,
    any(data_user) AS target_user,
    any(data_role) AS role,
    any(why) AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-collector-token-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM reasoned
WHERE why != ''
GROUP BY organization, actor, id
ORDER BY first_seen
