-- title: Identity chains
-- description: Who became whom, and what they did then. One row per step that created a session: an STS call that returned credentials (AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetFederationToken, ...; the link is the new responseElements.credentials.accessKeyId) or a console SwitchRole (the source and destination events paired by sharedEventID, the link). session_key is the new session's access key; actions, errors, first_action, last_action and event_names summarise the calls made with it (userIdentity.accessKeyId = session_key; sign-in events left out). from_key is the caller's own access key: a step whose from_key is another step's session_key continues that chain (role chaining). Failed switches, and STS calls that returned no credentials, start no chain. Give key to follow one access key.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: key string - Only steps that created or were made with this access key ID
-- chart: none
WITH sign_ins AS (
    -- STS calls and console switches in one pass over the lake (two scans cost about 20 %
    -- more), each response's JSON read once here
    SELECT eventtime,
           eventsource,
           eventname,
           recipientaccountid AS account,
           useridentity.arn AS arn,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal,
           useridentity.accesskeyid AS access_key,
           CASE WHEN eventsource = 'sts.amazonaws.com'
                THEN coalesce(json_extract_scalar(responseelements, '$.assumedRoleUser.arn'),
                              json_extract_scalar(responseelements, '$.federatedUser.arn'))
           END AS to_principal,
           CASE WHEN eventsource = 'sts.amazonaws.com'
                THEN json_extract_scalar(responseelements, '$.credentials.accessKeyId')
           END AS new_key,
           CASE WHEN eventsource = 'signin.amazonaws.com'
                THEN json_extract_scalar(additionaleventdata, '$.SwitchFrom')
           END AS switch_from,
           CASE WHEN eventsource = 'signin.amazonaws.com'
                THEN errorcode IS NULL AND errormessage IS NULL
                     AND coalesce(json_extract_scalar(responseelements, '$.SwitchRole'), '')
                         <> 'Failure'
           END AS switched,
           sharedeventid,
           eventid
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND (eventsource = 'sts.amazonaws.com'
           OR (eventsource = 'signin.amazonaws.com' AND eventname = 'SwitchRole'))
),
sts_steps AS (
    SELECT eventtime AS started,
           eventname AS step,
           account,
           principal AS from_principal,
           access_key AS from_key,
           to_principal,
           new_key AS link,
           new_key AS session_key,
           eventid
    FROM sign_ins
    WHERE eventsource = 'sts.amazonaws.com'
),
switch_events AS (
    SELECT eventtime,
           eventid,
           account,
           sharedeventid,
           switch_from,
           arn,
           access_key,
           coalesce(arn = switch_from, false) AS is_source
    FROM sign_ins
    WHERE eventsource = 'signin.amazonaws.com' AND switched
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
