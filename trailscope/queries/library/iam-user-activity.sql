-- title: What an IAM user did
-- description: Everything one IAM user did (userIdentity.type = 'IAMUser' and userName = the given user, in every account where that name exists), grouped by account, service and API call: how many calls, how many failed (an errorCode or errorMessage was logged, which includes failed console sign-ins), from how many source IPs, and the first and last call. The busiest calls come first; failures and unexpected services are what to look at.
-- param: user string
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=eventname y=calls
SELECT useridentity.accountid AS account,
       eventsource,
       eventname,
       count(*) AS calls,
       count_if(errorcode IS NOT NULL OR errormessage IS NOT NULL) AS failed,
       count(DISTINCT sourceipaddress) AS source_ips,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND useridentity.type = 'IAMUser'
  AND useridentity.username = :user
GROUP BY useridentity.accountid, eventsource, eventname
ORDER BY calls DESC, account, eventsource, eventname
