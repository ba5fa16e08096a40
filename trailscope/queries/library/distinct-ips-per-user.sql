-- title: Distinct source IPs per user
-- description: The 50 principals (IAM users, role sessions, federated and root identities, keyed by ARN, else user name or principal ID) that called from the most distinct source IP addresses, with their event count and first and last event. A person or key used from many addresses may be shared or stolen; role sessions of workloads behind VPC endpoints naturally show many private addresses. AWS services acting on their own are left out (they have no principal).
-- param: since time 7d Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- chart: bar x=principal y=distinct_ips
SELECT coalesce(useridentity.arn, useridentity.username, useridentity.principalid) AS principal,
       useridentity.type AS identity_type,
       count(DISTINCT sourceipaddress) AS distinct_ips,
       count(*) AS events,
       min(eventtime) AS first_seen,
       max(eventtime) AS last_seen
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND coalesce(useridentity.arn, useridentity.username, useridentity.principalid) IS NOT NULL
GROUP BY coalesce(useridentity.arn, useridentity.username, useridentity.principalid),
         useridentity.type
ORDER BY distinct_ips DESC, events DESC, principal, identity_type
LIMIT 50
