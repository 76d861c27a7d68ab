-- Countermarks: the 8-character codes that stand for a voucher while it lives, so that a
-- citizen can say or type a short code at a venue's desk instead of showing a 400-character
-- voucher. Outside the log on purpose: issuing a voucher writes no event, and a redemption
-- records the whole voucher. A row is kept until `keep_until` (epoch seconds), a day past its
-- voucher's expiry, so that a late retry of a redemption is still recognised; older rows are
-- deleted as new ones are written. Deleting every row only makes live countermarks unknown.
CREATE TABLE countermarks
(
    countermark TEXT   NOT NULL PRIMARY KEY,
    voucher     TEXT   NOT NULL,
    keep_until  BIGINT NOT NULL
);
CREATE INDEX countermarks_keep_until ON countermarks (keep_until);
