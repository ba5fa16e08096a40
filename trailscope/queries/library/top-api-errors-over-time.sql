-- title: Top API errors over time
-- description: How many API calls failed per time bucket (bucket = hour or day, in UTC) for the top error codes of the window (the `top` most frequent errorCode values). One row per bucket and error code, with the number of distinct calls (event names) and principals behind them. A sudden jump of AccessDenied or UnauthorizedOperation can be a misconfiguration or someone probing permissions; throttling errors point at noisy automation.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: bucket string hour Time bucket: hour or day
-- param: top int 10 How many error codes to show
-- chart: line x=bucket y=errors color=errorcode
WITH failed_calls AS (
    SELECT eventtime_ts,
           errorcode,
           eventname,
           coalesce(useridentity.arn, useridentity.username, useridentity.principalid,
                    useridentity.invokedby) AS principal
    FROM cloudtrail
    WHERE eventtime >= :since
      AND (:until IS NULL OR eventtime <= :until)
      AND errorcode IS NOT NULL
),
ranked AS (
    SELECT errorcode, row_number() OVER (ORDER BY count(*) DESC, errorcode) AS rnk
    FROM failed_calls
    GROUP BY errorcode
)
SELECT date_trunc(:bucket, e.eventtime_ts) AS bucket,
       e.errorcode AS errorcode,
       count(*) AS errors,
       count(DISTINCT e.eventname) AS event_names,
       count(DISTINCT e.principal) AS principals
FROM failed_calls AS e
JOIN ranked AS r ON r.errorcode = e.errorcode
WHERE r.rnk <= :top
GROUP BY date_trunc(:bucket, e.eventtime_ts), e.errorcode
ORDER BY bucket, errors DESC, errorcode
