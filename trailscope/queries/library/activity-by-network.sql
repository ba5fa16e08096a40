-- title: Activity by country and network
-- description: Every call by the country, autonomous system (ASN and organisation) and kind of its source address (aws-service, aws-range, private, reserved, public, unknown), from the lake's ip_info table ('trailscope lake enrich'): calls, failed calls, principals and addresses. Networks of hosting providers and anonymisers stand out next to the company's own; kind NULL means the address was never enriched.
-- param: since time 7d Only calls from this time on
-- param: until time - Only calls up to this time (default: now)
-- param: kind string - Only addresses of this kind (public, aws-range, aws-service, private, reserved, unknown)
-- chart: bar x=as_org y=calls color=country
WITH calls AS (
    -- one row per address and principal: the join with ip_info then costs nothing
    SELECT sourceipaddress,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal,
           count(*) AS calls,
           sum(CASE WHEN errorcode IS NOT NULL AND errorcode <> '' THEN 1 ELSE 0 END) AS failed
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
    GROUP BY 1, 2
)
SELECT i.country,
       i.asn,
       i.as_org,
       i.kind,
       sum(c.calls) AS calls,
       sum(c.failed) AS failed,
       count(DISTINCT c.principal) AS principals,
       count(DISTINCT c.sourceipaddress) AS addresses
FROM calls c
LEFT JOIN ip_info i ON i.ip = c.sourceipaddress
WHERE (:kind IS NULL OR i.kind = :kind)
GROUP BY i.country, i.asn, i.as_org, i.kind
ORDER BY calls DESC, i.country, i.asn, i.kind
