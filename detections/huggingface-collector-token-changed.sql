-- The collector's own Hub token deleted, rotated or changed, or its service
-- account deleted: the audit log export stops (401), and whoever did it may
-- act unseen. The collector's tokens and token owners are those of the
-- exports the receiver marked as its own (tags['self_export']). A token
-- event whose data names no token and no service account (org.rotate_token,
-- another shape, rawLog empty) is reported at Medium, reason unknown_shape.
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH collector AS (
    SELECT DISTINCT workspaceID, tokenID, authorUser
    FROM huggingface_logs FINAL
    WHERE receivedAt < {to:DateTime} AND eventName = 'org.audit_log.export' AND tags['self_export'] = 'true'
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
    any(JSONExtractString(rawLog, 'data', 'tokenId')) AS token_id,
    any(JSONExtractString(rawLog, 'data', 'serviceAccount')) AS service_account,
    if(token_id = '' AND service_account = '', 'unknown_shape', 'collector_token') AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-collector-token-changed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM huggingface_logs FINAL
WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
  AND eventName IN ('org.service_account.token.delete', 'org.service_account.token.rotate', 'org.service_account.token.update',
                    'org.service_account.delete', 'org.rotate_token')
  AND ((workspaceID, JSONExtractString(rawLog, 'data', 'tokenId')) IN (SELECT workspaceID, tokenID FROM collector)
       OR (workspaceID, JSONExtractString(rawLog, 'data', 'serviceAccount')) IN (SELECT workspaceID, authorUser FROM collector)
       OR (JSONExtractString(rawLog, 'data', 'tokenId') = '' AND JSONExtractString(rawLog, 'data', 'serviceAccount') = ''))
GROUP BY organization, actor, id
ORDER BY first_seen
