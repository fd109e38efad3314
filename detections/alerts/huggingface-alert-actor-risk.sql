-- Risk per actor: the sum of the risk scores of the distinct detections that
-- fired on the actor's events in a UTC day. Judged: the actors with a finding
-- found in [from, to); their findings found before {to} are summed.
WITH judged AS (
    SELECT DISTINCT organization, actor, toStartOfDay(first_seen, 'UTC') AS day
    FROM huggingface_findings FINAL
    WHERE found_at >= {from:DateTime} AND found_at < {to:DateTime}
      AND NOT startsWith(detection, 'huggingface-alert-')
),
per_detection AS (
    SELECT organization, actor, toStartOfDay(first_seen, 'UTC') AS day, detection,
           max(risk_score) AS risk, groupArray(dedup_key) AS keys,
           arrayFlatten(groupArray(event_ids)) AS ids, min(first_seen) AS first, max(last_seen) AS last
    FROM huggingface_findings FINAL
    WHERE found_at < {to:DateTime} AND NOT startsWith(detection, 'huggingface-alert-')
      AND (organization, actor, toStartOfDay(first_seen, 'UTC')) IN (SELECT organization, actor, day FROM judged)
    GROUP BY organization, actor, day, detection
)
SELECT
    organization AS organization,
    actor AS actor,
    sum(length(keys)) AS event_count,
    arraySort(arrayDistinct(arrayFlatten(groupArray(ids)))) AS event_ids,
    min(first) AS first_seen,
    max(last) AS last_seen,
    sum(risk) AS risk,
    groupArray(detection) AS detections,
    arrayFlatten(groupArray(keys)) AS findings,
    concatWithSeparator('|', 'huggingface-alert-actor-risk', organization, actor,
        formatDateTime(any(day), '%Y-%m-%d', 'UTC')) AS dedup_key
FROM per_detection
GROUP BY organization, actor, day
HAVING risk >= {threshold:UInt32}
ORDER BY first_seen
