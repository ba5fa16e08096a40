-- title: Source IPs by identity type
-- description: Where each kind of identity (userIdentity.type: IAMUser, AssumedRole, Root, AWSService, FederatedUser, ...) calls from: one row per identity type and source address with the number of events, distinct principals, and the first and last event. AWS services show their host name (e.g. lambda.amazonaws.com) instead of an address. Root or IAM users coming from unexpected addresses stand out; events without a userIdentity type are listed as 'unknown'.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=identity_type y=events color=sourceipaddress
SELECT coalesce(useridentity.type, 'unknown') AS identity_type,
       sourceipaddress,
       count(*) AS events,
       count(DISTINCT coalesce(useridentity.arn, useridentity.username,
                               useridentity.principalid, useridentity.invokedby)) AS principals,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND sourceipaddress IS NOT NULL
GROUP BY coalesce(useridentity.type, 'unknown'), sourceipaddress
ORDER BY identity_type, events DESC, sourceipaddress
