-- Citizens' short codes: 8 characters of Crockford's base32 that a person reads out at a partner's
-- desk instead of a 36-character id (docs/api.md, "Citizen"). A lookup key, not a fact of the
-- ledger, so it lives outside the log: written in the same transaction as the registration's
-- events, or on first need for a citizen registered before codes existed. A citizen keeps one
-- code; a code names one citizen.
CREATE TABLE citizen_codes
(
    citizen_id TEXT NOT NULL PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE CHECK (length(code) = 8)
) STRICT, WITHOUT ROWID;
