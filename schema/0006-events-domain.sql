-- The event log is read by domain (newest first) as well as in id order.
CREATE INDEX events_domain ON events (domain, id);
