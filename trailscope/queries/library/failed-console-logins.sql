-- title: Failed console logins
-- description: Console sign-in failures grouped by account, user and source IP, most failures first, with the first and last failure. A ConsoleLogin counts as failed when responseElements.ConsoleLogin is 'Failure' or an errorCode/errorMessage (usually 'Failed authentication') was logged; the sign-in service rarely sets an errorCode, so filtering on AccessDenied alone misses them. Many failures from one address, or for HIDDEN_DUE_TO_SECURITY_REASONS (user names that do not exist), suggest password guessing.
-- param: since time 7d Only failures from this time on
-- param: until time - Only failures up to this time (default: now)
-- chart: bar x=user_name y=failures
SELECT recipientaccountid AS account,
       coalesce(useridentity.username, useridentity.arn) AS user_name,
       sourceipaddress,
       count(*) AS failures,
       min(eventtime) AS first_failure,
       max(eventtime) AS last_failure,
       count(DISTINCT useragent) AS user_agents
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND eventsource = 'signin.amazonaws.com'
  AND eventname = 'ConsoleLogin'
  AND (json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'
       OR errorcode IS NOT NULL
       OR errormessage IS NOT NULL)
GROUP BY recipientaccountid, coalesce(useridentity.username, useridentity.arn), sourceipaddress
ORDER BY failures DESC, last_failure DESC, account, user_name, sourceipaddress
