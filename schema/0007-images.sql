-- Saved images of domains: a managed save (at most one per domain) and named snapshots. The file
-- at path holds guest memory, vCPU and device state; disks are referenced (disk), never copied.
CREATE TABLE images (
    id INTEGER PRIMARY KEY,
    domain_uuid TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('managed-save', 'snapshot')),
    name TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    contents TEXT NOT NULL,
    disk TEXT,
    path TEXT NOT NULL UNIQUE,
    UNIQUE (domain_uuid, kind, name)
);
