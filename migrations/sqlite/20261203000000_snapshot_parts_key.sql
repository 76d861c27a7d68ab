-- The key a snapshot's parts are stored under, `name@position`: the parts are written before
-- their row, each in a short transaction of its own (on SQLite, between two groups of the
-- committer), and the row then points at them (decision 14). NULL: the parts are under the
-- snapshot's name, as written before this migration.
ALTER TABLE projection_snapshots ADD COLUMN parts_key TEXT;
