-- The statistics history's minute and ten-minute points (the last day and month), so charts
-- outlive a restart of hvd. series is a domain's UUID, or 'host'; tier is 1 (day) or 2 (month);
-- point the interval number (seconds since the epoch / the tier's step); vals the metrics as
-- 32-bit floats in the host's byte order, in HistoryMetric order.
CREATE TABLE history_points (
    series TEXT NOT NULL,
    tier INTEGER NOT NULL CHECK (tier IN (1, 2)),
    point INTEGER NOT NULL,
    vals BLOB NOT NULL,
    PRIMARY KEY (series, tier, point)
) WITHOUT ROWID;
