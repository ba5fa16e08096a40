-- title: Sign-ins from new countries per user
-- description: For each user, the countries their successful console sign-ins came from in the window that they had not signed in from in the baseline days before it (places from the lake's ip_info table, 'trailscope lake enrich'): the first sign-in from there, how many followed, and how many sign-ins the user had before (a user with none is new, not travelling). The detection console-login-from-new-country raises the same as findings.
-- param: since time 7d Only new countries first seen from this time on
-- param: until time - Only sign-ins up to this time (default: now)
-- param: baseline int 14 Days before since that make a country known
-- chart: table
WITH logins AS (
    SELECT eventtime,
           eventid,
           sourceipaddress,
           coalesce(useridentity.arn, useridentity.username) AS user_name
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND eventsource = 'signin.amazonaws.com'
      AND eventname = 'ConsoleLogin'
      AND json_extract_scalar(responseelements, '$.ConsoleLogin') = 'Success'
),
known AS (
    SELECT coalesce(useridentity.arn, useridentity.username) AS user_name,
           i.country,
           count(*) AS n
    FROM cloudtrail c
    JOIN ip_info i ON i.ip = c.sourceipaddress
    -- in seconds: the same instant on every engine, whatever integer type binds baseline
    WHERE to_unixtime(c.eventtime_ts) >= to_unixtime(from_iso8601_timestamp(:since)) - :baseline * 86400
      AND c.eventtime < :since
      AND c.eventsource = 'signin.amazonaws.com'
      AND c.eventname = 'ConsoleLogin'
      AND json_extract_scalar(c.responseelements, '$.ConsoleLogin') = 'Success'
      AND i.country IS NOT NULL
    GROUP BY 1, 2
),
placed AS (
    SELECT l.user_name, i.country, i.country_name, l.eventtime, l.eventid, l.sourceipaddress
    FROM logins l
    JOIN ip_info i ON i.ip = l.sourceipaddress
    WHERE i.country IS NOT NULL
)
SELECT p.user_name,
       p.country,
       max(p.country_name) AS country_name,
       min(p.eventtime) AS first_seen,
       count(*) AS sign_ins,
       min_by(p.sourceipaddress, p.eventtime) AS first_address,
       min_by(p.eventid, p.eventtime) AS eventid,
       coalesce(max(b.before), 0) AS sign_ins_before
FROM placed p
LEFT JOIN known k ON k.user_name = p.user_name AND k.country = p.country
LEFT JOIN (SELECT user_name, sum(n) AS before FROM known GROUP BY user_name) b
    ON b.user_name = p.user_name
WHERE k.user_name IS NULL
GROUP BY p.user_name, p.country
ORDER BY first_seen DESC, p.user_name, p.country
