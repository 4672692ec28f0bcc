-- hvd networks: a bridge with a subnet whose first address is the host's, and one lease (MAC and
-- address) per domain attached to it.
CREATE TABLE networks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    bridge TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL,
    prefix INTEGER NOT NULL CHECK (prefix BETWEEN 8 AND 30),
    nat INTEGER NOT NULL DEFAULT 0 CHECK (nat IN (0, 1)),
    dhcp INTEGER NOT NULL DEFAULT 0 CHECK (dhcp IN (0, 1)),
    created_us INTEGER NOT NULL
);

CREATE TABLE leases (
    network_id INTEGER NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
    domain_id INTEGER NOT NULL REFERENCES domains (id) ON DELETE CASCADE,
    mac TEXT NOT NULL UNIQUE,
    ipv4 TEXT NOT NULL,
    PRIMARY KEY (network_id, domain_id),
    UNIQUE (network_id, ipv4)
);
