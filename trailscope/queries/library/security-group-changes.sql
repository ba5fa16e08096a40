-- title: Security group changes
-- description: Changes to security groups and to the groups of network interfaces (Authorize/Revoke SecurityGroup Ingress/Egress, CreateSecurityGroup, ModifyNetworkInterfaceAttribute), newest first, read from requestParameters: the group, the interface, the first rule's protocol and ports (rules says how many rules the call carried), every CIDR in the request, and every security group ID in it (the changed group first, then groups a rule refers to; for an interface, its new set of groups). open_to_world flags 0.0.0.0/0 or ::/0. Give group or eni to follow one resource, and before (a time) with hours to see what changed in the N hours before that moment, e.g. before an incident; widen since if before is further back.
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: group string - Only changes that name this security group ID (sg-...)
-- param: eni string - Only changes to this network interface (eni-...)
-- param: before time - Only the hours before this moment (with hours)
-- param: hours int 24 How many hours before 'before' to show
-- chart: timeline x=eventtime y=group_id color=open_to_world
WITH changes AS (
    SELECT eventtime,
           recipientaccountid AS account,
           awsregion AS region,
           eventname,
           coalesce(json_extract_scalar(requestparameters, '$.groupId'),
                    json_extract_scalar(responseelements, '$.groupId')) AS group_id,
           json_extract_scalar(requestparameters, '$.groupName') AS group_name,
           json_extract_scalar(requestparameters, '$.networkInterfaceId') AS network_interface,
           coalesce(json_extract_scalar(requestparameters, '$.ipPermissions.items[0].ipProtocol'),
                    json_extract_scalar(requestparameters, '$.ipProtocol')) AS protocol,
           CAST(coalesce(json_extract_scalar(requestparameters, '$.ipPermissions.items[0].fromPort'),
                         json_extract_scalar(requestparameters, '$.fromPort')) AS integer) AS from_port,
           CAST(coalesce(json_extract_scalar(requestparameters, '$.ipPermissions.items[0].toPort'),
                         json_extract_scalar(requestparameters, '$.toPort')) AS integer) AS to_port,
           json_array_length(json_extract(requestparameters, '$.ipPermissions.items')) AS rules,
           regexp_extract_all(requestparameters, '"cidrIp(?:v6)?" *: *"([^"]+)"', 1) AS cidrs,
           regexp_extract_all(requestparameters, '"groupId" *: *"([^"]+)"', 1) AS security_groups,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal,
           sourceipaddress,
           errorcode,
           eventid
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'ec2.amazonaws.com'
      AND eventname IN ('AuthorizeSecurityGroupIngress', 'AuthorizeSecurityGroupEgress',
                        'RevokeSecurityGroupIngress', 'RevokeSecurityGroupEgress',
                        'CreateSecurityGroup', 'ModifyNetworkInterfaceAttribute')
      AND (:before IS NULL
           OR (eventtime <= :before
               AND eventtime_ts >= from_iso8601_timestamp(:before) - :hours * INTERVAL '1' HOUR))
)
SELECT eventtime,
       account,
       region,
       eventname,
       group_id,
       group_name,
       network_interface,
       protocol,
       from_port,
       to_port,
       rules,
       cidrs,
       coalesce(contains(cidrs, '0.0.0.0/0') OR contains(cidrs, '::/0'), false) AS open_to_world,
       security_groups,
       principal,
       sourceipaddress,
       errorcode,
       eventid
FROM changes
WHERE (:group IS NULL OR group_id = :group OR contains(security_groups, :group))
  AND (:eni IS NULL OR network_interface = :eni)
ORDER BY eventtime DESC, eventid
