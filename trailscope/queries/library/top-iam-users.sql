-- title: Most active IAM users
-- description: The 50 IAM users (userIdentity.type = 'IAMUser') with the most events, per account: how many events, how many changed something (readOnly = 'false'), how many failed (errorCode set), how many different calls and source IPs, and the first and last event. IAM users have long-lived credentials; a busy human IAM user, or a service user calling from many addresses, is worth moving to roles. HIDDEN_DUE_TO_SECURITY_REASONS collects failed sign-ins with unknown user names.
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=user_name y=events
SELECT useridentity.accountid AS account,
       useridentity.username AS user_name,
       count(*) AS events,
       count_if(readonly = 'false') AS writes,
       count_if(errorcode IS NOT NULL) AS errors,
       count(DISTINCT eventname) AS event_names,
       count(DISTINCT sourceipaddress) AS source_ips,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND useridentity.type = 'IAMUser'
GROUP BY useridentity.accountid, useridentity.username
ORDER BY events DESC, account, user_name
LIMIT 50
