-- title: Login facts per user
-- description: One row per account and console user: how many ConsoleLogin attempts, how many succeeded and failed, how many successful logins were without MFA, the first and latest attempt, the latest success and from how many distinct source IPs. Failure is judged as in 'console-logins' (responseElements.ConsoleLogin = 'Failure', or an errorCode/errorMessage). Look for users whose logins come from many addresses or skip MFA.
-- param: since time 7d Only logins from this time on
-- param: until time - Only logins up to this time (default: now)
-- chart: bar x=user_name y=logins
SELECT account,
       user_name,
       count(*) AS logins,
       count_if(NOT failed) AS successful,
       count_if(failed) AS failed,
       count_if(NOT failed AND mfa_used = 'No') AS successful_without_mfa,
       min(eventtime) AS first_login,
       max(eventtime) AS latest_login,
       max(CASE WHEN NOT failed THEN eventtime END) AS latest_success,
       count(DISTINCT sourceipaddress) AS distinct_ips
FROM (
    SELECT recipientaccountid AS account,
           coalesce(useridentity.username, useridentity.arn) AS user_name,
           eventtime,
           sourceipaddress,
           json_extract_scalar(additionaleventdata, '$.MFAUsed') AS mfa_used,
           coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure', false)
               OR errorcode IS NOT NULL
               OR errormessage IS NOT NULL AS failed
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'ConsoleLogin'
) AS attempts
GROUP BY account, user_name
ORDER BY logins DESC, account, user_name
