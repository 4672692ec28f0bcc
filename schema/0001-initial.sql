-- Initial schema: domain definitions with their state, allocations, and the event log.
CREATE TABLE domains (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    uuid TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL CHECK (driver IN ('kvm', 'minihv')),
    mode TEXT NOT NULL CHECK (mode IN ('pv', 'full')),
    vcpus INTEGER NOT NULL CHECK (vcpus >= 1),
    memory_mib INTEGER NOT NULL CHECK (memory_mib >= 1),
    kernel TEXT,
    disk TEXT,
    cmdline TEXT,
    cpuset TEXT,
    autostart INTEGER NOT NULL DEFAULT 0 CHECK (autostart IN (0, 1)),
    on_crash TEXT NOT NULL DEFAULT 'destroy' CHECK (on_crash IN ('destroy', 'restart', 'preserve')),
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    pid INTEGER,
    pid_start_time INTEGER,
    created_us INTEGER NOT NULL,
    state_changed_us INTEGER NOT NULL,
    started_us INTEGER
);

-- One row per domain that holds host resources (starting, running, paused, stopping, crashed).
CREATE TABLE allocations (
    domain_id INTEGER PRIMARY KEY REFERENCES domains (id) ON DELETE CASCADE,
    vcpus INTEGER NOT NULL,
    memory_mib INTEGER NOT NULL,
    cpuset TEXT
);

-- Everything that happened, kept after a domain is deleted (no foreign key on purpose).
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time_us INTEGER NOT NULL,
    domain TEXT,
    event TEXT NOT NULL,
    detail TEXT
);
