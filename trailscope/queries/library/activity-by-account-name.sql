-- title: Activity by account name
-- description: Calls, failed calls, principals and regions per account, with the account's name and tags from the lake's accounts table ('trailscope enrich accounts', from AWS Organizations or a file). Give account_name with * wildcards (prod-*) to keep only some accounts; an account with no name shows its id only.
-- param: since time 7d Only calls from this time on
-- param: until time - Only calls up to this time (default: now)
-- param: account_name string - Only accounts whose name matches (* for any characters)
-- chart: bar x=account_name y=calls
WITH calls AS (
    SELECT recipientaccountid AS account,
           awsregion,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal,
           CASE WHEN errorcode IS NOT NULL AND errorcode <> '' THEN 1 ELSE 0 END AS failed
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
)
SELECT c.account,
       a.name AS account_name,
       a.tags,
       count(*) AS calls,
       sum(c.failed) AS failed,
       count(DISTINCT c.principal) AS principals,
       count(DISTINCT c.awsregion) AS regions
FROM calls c
LEFT JOIN accounts a ON a.account_id = c.account
WHERE (:account_name IS NULL OR a.name LIKE replace(replace(:account_name, '_', '\_'), '*', '%') ESCAPE '\')
GROUP BY c.account, a.name, a.tags
ORDER BY calls DESC, c.account
