-- A snapshot's body in parts of a few MB, written in the same transaction as its row in
-- `projection_snapshots` (whose `body` is then empty and `parts` the number of parts): a body of
-- tens of MB in one value was copied whole by the driver and again by the database, and the
-- server's peak memory rose by several times the snapshot at each one. A row whose `parts` is
-- NULL (written before this migration) keeps its body inline.
ALTER TABLE projection_snapshots ADD COLUMN parts integer CHECK (parts >= 0);

CREATE TABLE projection_snapshot_parts
(
    name text    NOT NULL,
    part integer NOT NULL CHECK (part >= 0),
    body bytea   NOT NULL,
    PRIMARY KEY (name, part)
);
