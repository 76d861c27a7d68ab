-- Citizens' short codes: 8 characters of Crockford's base32 that a person reads out at a partner's
-- desk instead of a 36-character id (docs/api.md, "Citizen"). A lookup key, not a fact of the
-- ledger, so it lives outside the log: written in the same transaction as the registration's
-- events, or on first need for a citizen registered before codes existed. A citizen keeps one
-- code; a code names one citizen. Both are ASCII: compared byte for byte.
CREATE TABLE citizen_codes
(
    citizen_id text COLLATE "C" NOT NULL,
    code       text COLLATE "C" NOT NULL CHECK (length(code) = 8),
    CONSTRAINT citizen_codes_pkey PRIMARY KEY (citizen_id),
    CONSTRAINT citizen_codes_code_key UNIQUE (code)
);
