-- The subscription plan was downgraded (billing.update_subscription_plan to a
-- lower plan): below Enterprise the organization loses SSO enforcement, below
-- Team the audit log itself. Plans rank free < pro < team < enterprise, from
-- data.plan and data.previousPlan; an event without both known plans is
-- reported at Medium with reason unknown_shape.
-- billing.update_subscription (seats, billing period ...) may carry a plan
-- change too: it is judged the same way when its data has a previousPlan
-- (not null: the plan changed), and left alone without one (a seat change, the
-- routine case: data.plan alone is the current plan, not a change).
--
-- Framing (README, "Writing a detection"): one finding per event received
-- in the range; dedup_key is the detection, the organization, the actor and
-- the event.
WITH events AS (
    SELECT workspaceID, authorUser, id, eventTime, eventName, actorIP,
           JSONExtractString(rawLog, 'data', 'previousPlan') AS previous_plan,
           JSONExtractString(rawLog, 'data', 'plan') AS plan,
           indexOf(['free', 'pro', 'team', 'enterprise'], lower(previous_plan)) AS old_rank,
           indexOf(['free', 'pro', 'team', 'enterprise'], lower(plan)) AS new_rank
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND (eventName = 'billing.update_subscription_plan'
           OR (eventName = 'billing.update_subscription' AND JSONType(rawLog, 'data', 'previousPlan') != 'Null'))
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    any(actorIP) AS ip,
    any(previous_plan) AS previous,
    any(plan) AS new_plan,
    if(any(old_rank) = 0 OR any(new_rank) = 0, 'unknown_shape', 'downgrade') AS reason,
    if(reason = 'unknown_shape', 'Medium', 'High') AS severity,
    concatWithSeparator('|', 'huggingface-plan-downgraded', organization, actor, formatDateTime(first_seen, '%Y-%m-%dT%H:%i:%SZ', 'UTC'), id) AS dedup_key
FROM events
WHERE old_rank = 0 OR new_rank = 0 OR new_rank < old_rank
GROUP BY organization, actor, id
ORDER BY first_seen
