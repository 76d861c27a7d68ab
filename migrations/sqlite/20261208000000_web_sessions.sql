-- What the web pages need beside the log: a citizen's email (personal data, with the other
-- details, erased with them), the browser sessions and the one-time login links. None of it is a
-- fact of the ledger. Tokens are stored as their SHA-256 only, like credentials: a copy of the
-- database lets nobody log in. Times are epoch seconds; rows past `expires_at` are deleted as new
-- ones are written.
ALTER TABLE citizen_details ADD COLUMN email TEXT;
CREATE INDEX citizen_details_email ON citizen_details (lower(email));

CREATE TABLE web_sessions
(
    session_hash BLOB  NOT NULL PRIMARY KEY,
    role         TEXT   NOT NULL CHECK (role IN ('admin', 'association', 'venue', 'citizen')),
    subject_id   TEXT   NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX web_sessions_expires_at ON web_sessions (expires_at);

CREATE TABLE login_links
(
    link_hash  BLOB  NOT NULL PRIMARY KEY,
    citizen_id TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_links_expires_at ON login_links (expires_at);
