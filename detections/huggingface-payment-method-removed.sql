-- A payment method removed (billing.remove_payment_method) and not replaced:
-- no billing.update_payment_method by the same actor within replace_minutes
-- after it. A card swap adds the new card within minutes.
--
-- Framing (README, "Writing a detection"): one finding per removal. A
-- removal is judged judge_delay_minutes after it was received (the range is
-- shifted), so that a replacement received in the next polls is seen:
-- consecutive ranges still judge every removal once. dedup_key is the removal.
WITH removals AS (
    SELECT workspaceID, authorID, authorUser, id, eventTime, actorIP, rawLog
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} - toIntervalMinute({judge_delay_minutes:UInt32})
      AND receivedAt < {to:DateTime} - toIntervalMinute({judge_delay_minutes:UInt32})
      AND eventName = 'billing.remove_payment_method'
),
replaced AS (
    SELECT r.id AS id
    FROM removals AS r
    INNER JOIN huggingface_logs AS l FINAL ON l.workspaceID = r.workspaceID AND l.authorID = r.authorID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventName = 'billing.update_payment_method'
      AND l.eventTime >= r.eventTime AND l.eventTime <= r.eventTime + toIntervalMinute({replace_minutes:UInt32})
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(actorIP) AS ips,
    any(JSONExtractString(rawLog, 'data', 'last4')) AS card_last4,
    concatWithSeparator('|', 'huggingface-payment-method-removed', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM removals
WHERE id NOT IN (SELECT id FROM replaced)
GROUP BY organization, actor, id
ORDER BY first_seen
