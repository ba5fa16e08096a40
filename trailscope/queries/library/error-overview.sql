-- title: Error overview
-- description: Failed API calls (errorCode set) by error code, service and principal, most frequent first: how many errors, across how many different calls, the first and last occurrence and one example message. The principal is the ARN (else user name, principal ID, or the AWS service that made the call). One principal with thousands of the same denial is usually a broken job; many principals with AccessDenied on one service usually a policy change.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=errorcode y=errors
SELECT errorcode,
       eventsource,
       coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                useridentity.invokedby) AS principal,
       count(*) AS errors,
       count(DISTINCT eventname) AS event_names,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen,
       min(errormessage) AS example_message
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND errorcode IS NOT NULL
GROUP BY errorcode,
         eventsource,
         coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                  useridentity.invokedby)
ORDER BY errors DESC, errorcode, eventsource, principal
