-- title: Console logins
-- description: Every AWS console sign-in (ConsoleLogin), successful or not, newest first: who (user name or ARN and identity type), from where (source IP, user agent), the outcome and whether MFA was used. A login is a failure when responseElements.ConsoleLogin is 'Failure' or an errorCode/errorMessage (such as 'Failed authentication') was logged. Watch for Root logins, logins with mfa_used = 'No', and unfamiliar addresses. Failed logins for unknown user names show the user as HIDDEN_DUE_TO_SECURITY_REASONS.
-- param: since time 7d Only logins from this time on
-- param: until time - Only logins up to this time (default: now)
-- param: user string - Only this user name (or ARN, e.g. for root)
-- chart: timeline x=eventtime y=user_name color=outcome
SELECT eventtime,
       recipientaccountid AS account,
       useridentity.type AS identity_type,
       coalesce(useridentity.username, useridentity.arn) AS user_name,
       useridentity.arn AS arn,
       sourceipaddress,
       useragent,
       CASE
           WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'
                OR errorcode IS NOT NULL
                OR errormessage IS NOT NULL THEN 'Failure'
           WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success' THEN 'Success'
           ELSE 'Unknown'
       END AS outcome,
       json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa_used,
       errormessage,
       eventid
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND eventsource = 'signin.amazonaws.com'
  AND eventname = 'ConsoleLogin'
  AND (:user IS NULL OR useridentity.username = :user OR useridentity.arn = :user)
ORDER BY eventtime DESC, eventid
