-- title: Root user activity
-- description: Every event made as an account's root user (userIdentity.type = 'Root'), newest first: sign-ins and API calls, where from, and whether MFA was used. invoked_by is set when an AWS service acted on root's behalf (userIdentity.invokedBy); rows with invoked_by empty are the root user in person, which should almost never happen. Any row here deserves a look.
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: timeline x=eventtime y=eventname color=account
SELECT eventtime,
       recipientaccountid AS account,
       eventsource,
       eventname,
       useridentity.invokedby AS invoked_by,
       sourceipaddress,
       useragent,
       coalesce(useridentity.sessioncontext.attributes.mfaauthenticated,
                json_extract_scalar(additionaleventdata, '$.MFAUsed')) AS mfa,
       readonly,
       errorcode,
       errormessage,
       eventid
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND useridentity.type = 'Root'
ORDER BY eventtime DESC, eventid
