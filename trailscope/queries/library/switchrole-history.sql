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
)
SELECT eventtime,
       account,
       side,
       switch_from,
       max(CASE WHEN side = 'destination' THEN issuer_arn END)
           OVER (PARTITION BY coalesce(sharedeventid, eventid)) AS destination_role,
       max(CASE WHEN side = 'destination' THEN account END)
           OVER (PARTITION BY coalesce(sharedeventid, eventid)) AS destination_account,
       principal,
       outcome,
       mfa_authenticated,
       sourceipaddress,
       sharedeventid,
       eventid
FROM switches
ORDER BY eventtime DESC, sharedeventid, side DESC, eventid
