-- title: Events in a time window
-- description: Every event between two moments, newest first, optionally for one event name. The starting point of most investigations.
-- param: since time 24h Only events from this time on
-- param: until time - Only events up to this time (default: now)
-- param: event_name string - Only this eventName (optional)
-- chart: none
SELECT eventtime, eventsource, eventname, useridentity.arn AS principal, sourceipaddress,
       awsregion, recipientaccountid, errorcode, eventid
FROM cloudtrail
WHERE eventtime >= :since
  AND (:until IS NULL OR eventtime <= :until)
  AND (:event_name IS NULL OR eventname = :event_name)
-- By the timestamp: sorting 8-byte numbers is cheaper than 20-character strings.
ORDER BY eventtime_ts DESC
