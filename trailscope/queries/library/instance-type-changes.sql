-- title: Instance type changes
-- description: EC2 instance type changes (ModifyInstanceAttribute with an instanceType), newest first: the instance, the new type and, when the window also holds an earlier successful change of the same instance, the previous type and when it was set (CloudTrail does not log the old type itself). Failed attempts are listed with their errorCode but never count as the previous type. Unexpected resizes can mean cost surprises or someone preparing an instance for crypto mining.
-- param: since time 7d Only changes from this time on
-- param: until time - Only changes up to this time (default: now)
-- param: instance string - Only this instance ID (i-...)
-- chart: timeline x=eventtime y=instance_id color=new_type
WITH changes AS (
    SELECT eventtime,
           eventid,
           recipientaccountid AS account,
           awsregion AS region,
           json_extract_scalar(requestparameters, '$.instanceId') AS instance_id,
           coalesce(json_extract_scalar(requestparameters, '$.instanceType.value'),
                    json_extract_scalar(requestparameters, '$.instanceType'),
                    CASE WHEN json_extract_scalar(requestparameters, '$.attribute') = 'instanceType'
                         THEN json_extract_scalar(requestparameters, '$.value') END) AS new_type,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal,
           sourceipaddress,
           errorcode
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'ec2.amazonaws.com'
      AND eventname = 'ModifyInstanceAttribute'
),
typed AS (
    SELECT *,
           lag(CASE WHEN errorcode IS NULL THEN new_type END) IGNORE NULLS
               OVER (PARTITION BY account, region, instance_id ORDER BY eventtime, eventid)
               AS previous_type,
           lag(CASE WHEN errorcode IS NULL THEN eventtime END) IGNORE NULLS
               OVER (PARTITION BY account, region, instance_id ORDER BY eventtime, eventid)
               AS previous_change
    FROM changes
    WHERE new_type IS NOT NULL
)
SELECT eventtime,
       account,
       region,
       instance_id,
       previous_type,
       new_type,
       previous_change,
       principal,
       sourceipaddress,
       errorcode,
       eventid
FROM typed
WHERE :instance IS NULL OR instance_id = :instance
ORDER BY eventtime DESC, eventid
