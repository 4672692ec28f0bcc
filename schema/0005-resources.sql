-- Resource enforcement: CPU weight (1..10000), CPU cap in percent of one host CPU (0: none), and
-- the hard memory limit in MiB (0: the driver's default), all changeable while a domain runs.
ALTER TABLE domains ADD COLUMN cpu_weight INTEGER NOT NULL DEFAULT 100 CHECK (cpu_weight BETWEEN 1 AND 10000);
ALTER TABLE domains ADD COLUMN cpu_cap INTEGER NOT NULL DEFAULT 0 CHECK (cpu_cap >= 0);
ALTER TABLE domains ADD COLUMN memory_limit INTEGER NOT NULL DEFAULT 0 CHECK (memory_limit >= 0);
