-- The engine's snapshots of its largest aggregates (an association's certifications, the
-- territory): the state after its first `sequence` events, so that loading it again after a
-- restart reads only the events after that. `position` is the log position of the event at
-- `sequence`: a snapshot whose event is not there any more (a log restored without it) is
-- ignored. `format` names the shape of `body`; a snapshot of another format is ignored too. A
-- cache of what the log holds, never read by the audit: deleting every row changes nothing but
-- the time the next loads take.
CREATE TABLE aggregate_snapshots
(
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    sequence       INTEGER NOT NULL CHECK (sequence >= 1),
    position       INTEGER NOT NULL CHECK (position >= 1),
    format         INTEGER NOT NULL,
    body           BLOB    NOT NULL,
    written_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (aggregate_type, aggregate_id)
) STRICT, WITHOUT ROWID;
