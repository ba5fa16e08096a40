-- title: IAM role activity
-- description: What sessions of each IAM role did, by the role that issued the session (userIdentity.sessionContext.sessionIssuer with type 'Role', so SSO permission sets, service roles and switched-into roles all appear under their role name). One row per account, role, service and API call with the number of calls, failed calls (errorCode set), distinct sessions (assumed-role ARNs) and source IPs, and the first and last call. Give role to see one role only.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: role string - Only this role name (sessionIssuer.userName), e.g. Admin
-- chart: bar x=role y=calls
SELECT useridentity.sessioncontext.sessionissuer.accountid AS account,
       useridentity.sessioncontext.sessionissuer.username AS role,
       eventsource,
       eventname,
       count(*) AS calls,
       count_if(errorcode IS NOT NULL) AS errors,
       count(DISTINCT useridentity.arn) AS sessions,
       count(DISTINCT sourceipaddress) AS source_ips,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND useridentity.sessioncontext.sessionissuer.type = 'Role'
  AND (:role IS NULL OR useridentity.sessioncontext.sessionissuer.username = :role)
GROUP BY useridentity.sessioncontext.sessionissuer.accountid,
         useridentity.sessioncontext.sessionissuer.username,
         eventsource,
         eventname
ORDER BY role, account, calls DESC, eventsource, eventname
