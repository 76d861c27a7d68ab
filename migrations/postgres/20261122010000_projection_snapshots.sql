-- Snapshots of the read models with the position they include, written in one statement: the
-- read models and their checkpoint can never disagree, whatever crashes. `format` names the shape
-- of `body`; a snapshot of another format is ignored and the read models are replayed from 0.
CREATE TABLE projection_snapshots
(
    name       text        NOT NULL PRIMARY KEY,
    position   bigint      NOT NULL CHECK (position >= 0),
    format     integer     NOT NULL,
    body       bytea       NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
