-- Token approvals abused: an authorization request approved by the member who
-- made it (org.token_approval.authorization_request.authorized whose
-- data.user is the approver, or whose request for the same data.tokenId the
-- approver wrote), or one actor approving threshold requests or more within
-- window_minutes (rubber-stamping, or an attacker approving their tokens). An
-- approval with neither data.user nor data.tokenId is reported at Low, reason
-- unknown_shape.
--
-- Framing (README, "Writing a detection"): the approvals received in [from,
-- to) are judged; requests and the actor's other approvals are looked up to a
-- day back by eventTime. One finding per self-approval; bulk approvals are one
-- finding per actor and window_minutes bucket. dedup_key follows.
WITH judged AS (
    SELECT workspaceID, authorID, authorUser, id, eventTime, actorIP,
           JSONExtractString(rawLog, 'data', 'user') AS requester,
           JSONExtractString(rawLog, 'data', 'tokenId') AS token
    FROM huggingface_logs FINAL
    WHERE receivedAt >= {from:DateTime} AND receivedAt < {to:DateTime}
      AND eventName = 'org.token_approval.authorization_request.authorized'
),
context AS (
    SELECT l.workspaceID AS workspaceID, l.authorID AS authorID, l.eventName AS eventName, l.eventTime AS eventTime,
           JSONExtractString(l.rawLog, 'data', 'tokenId') AS token
    FROM huggingface_logs AS l FINAL
    INNER JOIN (SELECT workspaceID, min(eventTime) AS lo, max(eventTime) AS hi FROM judged GROUP BY workspaceID) AS r
        ON l.workspaceID = r.workspaceID
    WHERE l.receivedAt < {to:DateTime}
      AND l.eventName IN ('org.token_approval.authorization_request', 'org.token_approval.authorization_request.authorized')
      AND l.eventTime >= r.lo - INTERVAL 1 DAY AND l.eventTime <= r.hi
),
flagged AS (
    SELECT j.workspaceID AS workspaceID, j.authorUser AS authorUser, j.id AS id, j.eventTime AS eventTime, j.actorIP AS actorIP,
           j.requester AS requester, j.token AS token,
           j.requester = '' AND j.token = '' AS unknown_shape,
           (j.requester != '' AND lower(j.requester) = lower(j.authorUser))
               OR countIf(c.eventName = 'org.token_approval.authorization_request' AND c.authorID = j.authorID
                          AND j.token != '' AND c.token = j.token AND c.eventTime <= j.eventTime) > 0 AS self,
           countIf(c.eventName = 'org.token_approval.authorization_request.authorized' AND c.authorID = j.authorID
                   AND c.eventTime > j.eventTime - toIntervalMinute({window_minutes:UInt32}) AND c.eventTime <= j.eventTime) AS in_window
    FROM judged AS j
    LEFT JOIN context AS c ON j.workspaceID = c.workspaceID
    GROUP BY workspaceID, authorUser, id, eventTime, actorIP, requester, token, j.authorID
),
reasoned AS (
    SELECT *, multiIf(self, 'self_approved', in_window >= {threshold:UInt32}, 'bulk', unknown_shape, 'unknown_shape', '') AS why
    FROM flagged
)
SELECT
    workspaceID AS organization,
    authorUser AS actor,
    count() AS event_count,
    arraySort(groupArray(id)) AS event_ids,
    min(eventTime) AS first_seen,
    max(eventTime) AS last_seen,
    why AS reason,
    if(reason = 'unknown_shape', 'Low', 'High') AS severity,
    groupUniqArray(requester) AS requesters,
    groupUniqArray(token) AS tokens,
    max(in_window) AS max_in_window,
    concatWithSeparator('|', 'huggingface-token-approval-abuse', organization, actor, reason,
        if(reason = 'bulk', formatDateTime(toStartOfInterval(first_seen, toIntervalMinute({window_minutes:UInt32})), '%Y-%m-%dT%H:%i:%SZ', 'UTC'),
           argMin(id, (eventTime, id)))) AS dedup_key
FROM reasoned
WHERE why != ''
GROUP BY organization, actor, reason,
    if(why = 'bulk', toString(toStartOfInterval(eventTime, toIntervalMinute({window_minutes:UInt32}))), id)
ORDER BY first_seen
