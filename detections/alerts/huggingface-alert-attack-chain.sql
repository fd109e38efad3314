-- The attack chain: per actor, a step-1 finding then steps 2, 3 and 4 at the
-- same time or later, within window_seconds. Judged: the actors with a
-- finding found in [from, to); their findings found before {to} make the
-- chain (an equivalent of windowFunnel that also returns the chain's start).
-- One alert per chain: a chain within window_seconds of one already alerted
-- for the actor is that one (a finding found a run later, such as a late
-- event of the first step, would otherwise move the chain's start, its
-- dedup_key with it, and alert again).
WITH judged AS (
    SELECT DISTINCT organization, actor
    FROM huggingface_findings FINAL
    WHERE found_at >= {from:DateTime} AND found_at < {to:DateTime}
      AND NOT startsWith(detection, 'huggingface-alert-')
),
staged AS (
    SELECT organization, actor, detection, dedup_key, event_ids, first_seen, last_seen,
           toInt64(toUInt32(first_seen)) AS t,
           multiIf(has(splitByChar(',', {initial_access:String}), detection), 1,
                   has(splitByChar(',', {control_disabled:String}), detection), 2,
                   has(splitByChar(',', {persistence:String}), detection), 3,
                   has(splitByChar(',', {exposure:String}), detection), 4, 0) AS step
    FROM huggingface_findings FINAL
    WHERE found_at < {to:DateTime}
      AND (organization, actor) IN (SELECT organization, actor FROM judged)
),
chains AS (
    SELECT organization, actor,
           groupArrayIf(t, step = 2) AS s2, groupArrayIf(t, step = 3) AS s3, groupArrayIf(t, step = 4) AS s4,
           -- The earliest step-1 time from which the chain completes in time.
           arrayFirst(s -> arrayMin(arrayConcat(arrayFilter(x -> x >= arrayMin(arrayConcat(arrayFilter(y -> y >= arrayMin(arrayConcat(arrayFilter(z -> z >= s, s2), [toInt64(4294967295)])), s3), [toInt64(4294967295)])), s4), [toInt64(4294967295)])) - s <= {window_seconds:UInt32},
                      arraySort(groupArrayIf(t, step = 1))) AS chain_start
    FROM staged
    GROUP BY organization, actor
    HAVING chain_start > 0
),
alerted AS (
    SELECT organization, actor, groupArray(toInt64(toUInt32(first_seen))) AS alerted_at
    FROM huggingface_findings FINAL
    WHERE detection = 'huggingface-alert-attack-chain' AND found_at < {to:DateTime}
    GROUP BY organization, actor
),
fresh AS (
    SELECT c.organization AS organization, c.actor AS actor, c.chain_start AS chain_start
    FROM chains AS c
    LEFT JOIN alerted AS a ON c.organization = a.organization AND c.actor = a.actor
    WHERE NOT arrayExists(x -> abs(x - c.chain_start) <= {window_seconds:UInt32}, a.alerted_at)
)
SELECT
    f.organization AS organization,
    f.actor AS actor,
    count() AS event_count,
    arraySort(arrayDistinct(arrayFlatten(groupArray(f.event_ids)))) AS event_ids,
    min(f.first_seen) AS first_seen,
    max(f.last_seen) AS last_seen,
    groupArray(f.dedup_key) AS findings,
    groupUniqArray(f.detection) AS detections,
    concatWithSeparator('|', 'huggingface-alert-attack-chain', organization, actor,
        formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC')) AS dedup_key
FROM staged AS f
INNER JOIN fresh AS c ON f.organization = c.organization AND f.actor = c.actor
WHERE f.step > 0 AND f.t >= c.chain_start AND f.t <= c.chain_start + {window_seconds:UInt32}
GROUP BY organization, actor
ORDER BY first_seen
