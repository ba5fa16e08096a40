-- title: Access keys created
-- description: Every IAM CreateAccessKey call, newest first: who called (caller, caller_type) and for which IAM user the key was made (requestParameters.userName; without it the key is the caller's own), with the new key ID. for_other_user is true when the key belongs to someone other than the calling IAM user, for instance an admin or a pipeline role creating a key for a user: a classic persistence step after a compromise. Failed attempts show their errorCode.
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: timeline x=eventtime y=key_user color=caller
SELECT eventtime,
       recipientaccountid AS account,
       useridentity.type AS caller_type,
       coalesce(useridentity.arn, useridentity.username, useridentity.principalid) AS caller,
       coalesce(json_extract_scalar(requestparameters, '$.userName'),
                json_extract_scalar(responseelements, '$.accessKey.userName'),
                CASE WHEN useridentity.type = 'IAMUser' THEN useridentity.username END) AS key_user,
       json_extract_scalar(responseelements, '$.accessKey.accessKeyId') AS access_key_id,
       CASE
           WHEN json_extract_scalar(requestparameters, '$.userName') IS NULL THEN false
           WHEN useridentity.type = 'IAMUser'
                AND json_extract_scalar(requestparameters, '$.userName') = useridentity.username
               THEN false
           ELSE true
       END AS for_other_user,
       sourceipaddress,
       useragent,
       errorcode,
       eventid
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND eventsource = 'iam.amazonaws.com'
  AND eventname = 'CreateAccessKey'
ORDER BY eventtime DESC, eventid
