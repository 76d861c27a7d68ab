-- Cheaper appends and replays (issue 5, docs/decisions/0010):
--
-- * `payload` and `metadata` become `json` instead of `jsonb`. Nothing queries inside a payload:
--   the log is written once and read whole. `jsonb` parsed every payload into its binary form on
--   insert (a fifth of PostgreSQL's CPU under load) and printed it back on every replay; `json`
--   only checks the text and keeps it byte for byte as Ygor wrote it, so a replay reads exactly
--   the text that was appended.
-- * The stream key (`aggregate_type`, `aggregate_id`) compares bytes (`COLLATE "C"`) instead of
--   the database's collation: ids are ASCII, and the key only needs to be unique and ordered, not
--   ordered as a language would sort words.
--
-- Both rewrite the table and its primary key once, under an exclusive lock.
ALTER TABLE events
    ALTER COLUMN payload TYPE json USING payload::json,
    ALTER COLUMN metadata TYPE json USING metadata::json,
    ALTER COLUMN aggregate_type TYPE text COLLATE "C",
    ALTER COLUMN aggregate_id TYPE text COLLATE "C";
