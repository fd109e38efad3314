-- First compute job: jobs.create / scheduled_job.create by an actor with no
-- such event in the lookback_days before the range.
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    groupArray(id) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    groupUniqArray(eventName) AS event_names,
    groupUniqArray(JSONExtractString(rawLog, 'data', 'flavor')) AS flavors
FROM huggingface_logs FINAL
WHERE eventTime >= {from:DateTime} AND eventTime < {to:DateTime}
  AND eventName IN ('jobs.create', 'scheduled_job.create')
  AND (workspaceID, authorUser) NOT IN (
        SELECT workspaceID, authorUser FROM huggingface_logs FINAL
        WHERE eventTime >= {from:DateTime} - toIntervalDay({lookback_days:UInt32}) AND eventTime < {from:DateTime}
          AND eventName IN ('jobs.create', 'scheduled_job.create'))
GROUP BY organization, actor
ORDER BY first_seen
