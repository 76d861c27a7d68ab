-- Snapshots of the read models with the position they include, written in one statement: the
-- read models and their checkpoint can never disagree, whatever crashes. `format` names the shape
-- of `body`; a snapshot of another format is ignored and the read models are replayed from 0.
CREATE TABLE projection_snapshots
(
    name       TEXT    NOT NULL PRIMARY KEY,
    position   INTEGER NOT NULL CHECK (position >= 0),
    format     INTEGER NOT NULL,
    body       BLOB    NOT NULL,
    written_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT, WITHOUT ROWID;
