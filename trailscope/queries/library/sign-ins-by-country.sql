-- title: Console sign-ins by country
-- description: Console sign-ins (ConsoleLogin) by the country and network of their source address, as the lake's ip_info table places it ('trailscope lake enrich'): sign-ins, failures, users and addresses per country, kind of address (public, aws-range, private, reserved, unknown) and autonomous system. A country with few sign-ins and many failures, or one nobody works from, is where to look first. Addresses never enriched show kind NULL.
-- param: since time 7d Only sign-ins from this time on
-- param: until time - Only sign-ins up to this time (default: now)
-- chart: bar x=country y=sign_ins color=kind
WITH logins AS (
    -- one row per address and user: the join with ip_info then costs nothing
    SELECT sourceipaddress,
           coalesce(useridentity.username, useridentity.arn) AS user_name,
           count(*) AS sign_ins,
           sum(CASE
                   WHEN json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Failure'
                        OR errorcode IS NOT NULL
                        OR errormessage IS NOT NULL THEN 1
                   ELSE 0
               END) AS failed
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'ConsoleLogin'
    GROUP BY 1, 2
)
SELECT i.country,
       i.country_name,
       i.kind,
       i.asn,
       i.as_org,
       sum(l.sign_ins) AS sign_ins,
       sum(l.failed) AS failed,
       count(DISTINCT l.user_name) AS users,
       count(DISTINCT l.sourceipaddress) AS addresses
FROM logins l
LEFT JOIN ip_info i ON i.ip = l.sourceipaddress
GROUP BY i.country, i.country_name, i.kind, i.asn, i.as_org
ORDER BY sign_ins DESC, i.country, i.asn
