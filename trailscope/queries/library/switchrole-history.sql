-- title: SwitchRole history
-- description: Every console role switch (signin SwitchRole), newest first. A cross-account switch is logged twice, once in each account, with the same sharedEventID: side 'source' is the event whose identity is the one switching (its ARN equals additionalEventData.SwitchFrom), side 'destination' the event in the account switched into, whose identity is the new role session. destination_role and destination_account come from the destination event of the pair, so both rows of a pair show them. outcome is responseElements.SwitchRole, or 'Failure' when an error was logged; mfa_authenticated is the session's MFA flag.
-- param: since time 7d Only switches from this time on
-- param: until time - Only switches up to this time (default: now)
-- param: user string - Only switches from this ARN (SwitchFrom), e.g. arn:aws:iam::111122223333:user/alice
-- chart: timeline x=eventtime y=switch_from color=destination_role
WITH switches AS (
    SELECT eventtime,
           recipientaccountid AS account,
           CASE
               WHEN useridentity.arn = json_extract_scalar(additionaleventdata, '$.SwitchFrom')
                   THEN 'source'
               ELSE 'destination'
           END AS side,
           json_extract_scalar(additionaleventdata, '$.SwitchFrom') AS switch_from,
           useridentity.sessioncontext.sessionissuer.arn AS issuer_arn,
           useridentity.arn AS principal,
           CASE
               WHEN errorcode IS NOT NULL OR errormessage IS NOT NULL THEN 'Failure'
               ELSE coalesce(json_extract_scalar(responseelements, '$.SwitchRole'), 'Unknown')
           END AS outcome,
           useridentity.sessioncontext.attributes.mfaauthenticated AS mfa_authenticated,
           sourceipaddress,
           sharedeventid,
           eventid
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'SwitchRole'
      AND (:user IS NULL OR json_extract_scalar(additionaleventdata, '$.SwitchFrom') = :user)
),
pairs AS (
    SELECT coalesce(sharedeventid, eventid) AS pair,
           max(CASE WHEN side = 'destination' THEN issuer_arn END) AS destination_role,
           max(CASE WHEN side = 'destination' THEN account END) AS destination_account
    FROM switches
    GROUP BY coalesce(sharedeventid, eventid)
)
SELECT s.eventtime,
       s.account,
       s.side,
       s.switch_from,
       p.destination_role,
       p.destination_account,
       s.principal,
       s.outcome,
       s.mfa_authenticated,
       s.sourceipaddress,
       s.sharedeventid,
       s.eventid
FROM switches AS s
JOIN pairs AS p ON p.pair = coalesce(s.sharedeventid, s.eventid)
ORDER BY s.eventtime DESC, s.sharedeventid, s.side DESC, s.eventid
