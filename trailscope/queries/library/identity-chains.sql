-- title: Identity chains
-- description: Who became whom, and what they did then. One row per step that created a session: an STS call that returned credentials (AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetFederationToken, ...; the link is the new responseElements.credentials.accessKeyId) or a console SwitchRole (the source and destination events paired by sharedEventID, the link). session_key is the new session's access key; actions, errors, first_action, last_action and event_names summarise the calls made with it (userIdentity.accessKeyId = session_key; sign-in events left out). from_key is the caller's own access key: a step whose from_key is another step's session_key continues that chain (role chaining). Failed switches, and STS calls that returned no credentials, start no chain. Give key to follow one access key.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: key string - Only steps that created or were made with this access key ID
-- chart: none
WITH sts_steps AS (
    SELECT eventtime AS started,
           eventname AS step,
           recipientaccountid AS account,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS from_principal,
           useridentity.accesskeyid AS from_key,
           coalesce(json_extract_scalar(responseelements, '$.assumedRoleUser.arn'),
                    json_extract_scalar(responseelements, '$.federatedUser.arn')) AS to_principal,
           json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS link,
           json_extract_scalar(responseelements, '$.credentials.accessKeyId') AS session_key,
           eventid
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'sts.amazonaws.com'
),
switch_events AS (
    SELECT eventtime,
           eventid,
           recipientaccountid AS account,
           sharedeventid,
           json_extract_scalar(additionaleventdata, '$.SwitchFrom') AS switch_from,
           useridentity.arn AS arn,
           useridentity.accesskeyid AS access_key,
           coalesce(useridentity.arn = json_extract_scalar(additionaleventdata, '$.SwitchFrom'),
                    false) AS is_source
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'SwitchRole'
      AND errorcode IS NULL
      AND errormessage IS NULL
      AND coalesce(json_extract_scalar(responseelements, '$.SwitchRole'), '') <> 'Failure'
),
switch_steps AS (
    SELECT coalesce(d.eventtime, s.eventtime) AS started,
           'SwitchRole' AS step,
           coalesce(d.account, s.account) AS account,
           coalesce(d.switch_from, s.switch_from) AS from_principal,
           s.access_key AS from_key,
           d.arn AS to_principal,
           coalesce(d.sharedeventid, s.sharedeventid) AS link,
           d.access_key AS session_key,
           coalesce(d.eventid, s.eventid) AS eventid
    FROM (SELECT * FROM switch_events WHERE NOT is_source) AS d
    FULL OUTER JOIN (SELECT * FROM switch_events WHERE is_source) AS s
        ON d.sharedeventid = s.sharedeventid
),
steps AS (
    -- filtered here, not in sts_steps: the key is then read from each response once
    SELECT * FROM sts_steps WHERE session_key IS NOT NULL
    UNION ALL
    SELECT * FROM switch_steps
),
actions AS (
    SELECT useridentity.accesskeyid AS session_key,
           count(*) AS actions,
           count_if(errorcode IS NOT NULL) AS errors,
           min(eventtime) AS first_action,
           max(eventtime) AS last_action,
           array_sort(array_agg(DISTINCT eventname)) AS event_names
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource <> 'signin.amazonaws.com'
      AND useridentity.accesskeyid IN (SELECT session_key FROM steps)
    GROUP BY useridentity.accesskeyid
)
SELECT st.started,
       st.step,
       st.account,
       st.from_principal,
       st.from_key,
       st.to_principal,
       st.link,
       st.session_key,
       coalesce(a.actions, 0) AS actions,
       coalesce(a.errors, 0) AS errors,
       a.first_action,
       a.last_action,
       a.event_names,
       st.eventid
FROM steps AS st
LEFT JOIN actions AS a ON a.session_key = st.session_key
WHERE :key IS NULL OR st.session_key = :key OR st.from_key = :key
ORDER BY st.started DESC, st.eventid
