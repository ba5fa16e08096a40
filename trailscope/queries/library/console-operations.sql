-- title: Operations done from the console
-- description: API calls made with console session credentials (sessionCredentialFromConsole = 'true'), by call and principal: how often, on how many distinct days, how many failed (errorCode set), first and last time. readonly tells reads from changes. Changes that people repeat by hand in the console are candidates for automation (infrastructure as code, runbooks); console writes in production accounts are worth reviewing.
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=eventname y=calls
SELECT eventsource,
       eventname,
       readonly,
       coalesce(useridentity.arn, useridentity.username, useridentity.principalid) AS principal,
       count(*) AS calls,
       count(DISTINCT substr(eventtime, 1, 10)) AS days,
       count_if(errorcode IS NOT NULL) AS errors,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND sessioncredentialfromconsole = 'true'
GROUP BY eventsource,
         eventname,
         readonly,
         coalesce(useridentity.arn, useridentity.username, useridentity.principalid)
ORDER BY calls DESC, eventsource, eventname, principal, readonly
