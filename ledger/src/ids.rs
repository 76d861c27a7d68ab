//! Identifiers of the domain. Each one is a newtype with a private field, so that a citizen id can
//! never be passed where a partner id is expected, and every value was checked when it was parsed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ParseError;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps a UUID chosen by the caller (a client id, or a fresh random one at the edge).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// Parses the canonical form only: lowercase, hyphenated, 36 characters. Every other
            /// spelling of the same UUID (uppercase, braces, no hyphens) is refused, so that one id
            /// has one text: a signed request keeps the text its partner signed, and the audit
            /// compares it with the id the log records.
            pub fn parse(text: &str) -> Result<Self, ParseError> {
                let refused = || {
                    ParseError::new(
                        $what,
                        "must be a UUID in lowercase with hyphens, such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301",
                    )
                };
                let canonical = text.len() == 36 && !text.bytes().any(|byte| byte.is_ascii_uppercase());
                if !canonical {
                    return Err(refused());
                }
                Uuid::parse_str(text).map(Self).map_err(|_| refused())
            }

            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Always the 36-character lowercase form: the gold formula hashes this text.
                fmt::Display::fmt(&self.0.hyphenated(), formatter)
            }
        }

        impl FromStr for $name {
            type Err = ParseError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }
    };
}

uuid_id!(
    /// A citizen, by a pseudonymous id: the log never holds a name.
    CitizenId,
    "citizen_id"
);
uuid_id!(
    /// An association (certifier) or a venue (redeemer).
    PartnerId,
    "partner_id"
);
uuid_id!(
    /// A certified action, chosen by the association: it makes a certification idempotent.
    ActionId,
    "action_id"
);

uuid_id!(
    /// A redemption, chosen by the venue: it makes a redemption idempotent.
    RedemptionId,
    "redemption_id"
);
uuid_id!(
    /// A lot of tokens in a wallet, with one expiry.
    LotId,
    "lot_id"
);
uuid_id!(
    /// A single-use voucher issued to a citizen.
    VoucherId,
    "voucher_id"
);
uuid_id!(
    /// A mission published by an association, chosen by it: publishing is idempotent.
    MissionId,
    "mission_id"
);
uuid_id!(
    /// A draw of premium prizes, chosen by the collectivity: creating it is idempotent.
    DrawId,
    "draw_id"
);
uuid_id!(
    /// An offer a venue publishes, chosen by it: publishing is idempotent.
    OfferId,
    "offer_id"
);
uuid_id!(
    /// A settlement of a venue's redeemed tokens.
    SettlementId,
    "settlement_id"
);

/// An action category of the rules (`ecologie`, `velo`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CategoryId(String);

impl CategoryId {
    /// Same alphabet as the ids of the rules file, so a category that parses here can exist there.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut characters = text.chars();
        let first_ok = characters.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = characters.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if first_ok && rest_ok && text.len() <= 64 {
            Ok(Self(text.to_owned()))
        } else {
            Err(ParseError::new(
                "category",
                "must be 1 to 64 characters among a-z, 0-9, '-' and '_', starting with a letter or digit",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategoryId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// The two kinds of partner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    Association,
    Venue,
}

impl fmt::Display for PartnerKind {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            PartnerKind::Association => "association",
            PartnerKind::Venue => "venue",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_in_lowercase_hyphenated_form() {
        let id = ActionId::from_uuid(Uuid::parse_str("3F2504E0-4F89-41D3-9A0C-0305E82C3301").unwrap());
        assert_eq!(id.to_string(), "3f2504e0-4f89-41d3-9a0c-0305e82c3301");
    }

    #[test]
    fn ids_in_other_uuid_spellings_are_refused() {
        assert!(ActionId::parse("3f2504e04f8941d39a0c0305e82c3301").is_err());
        assert!(ActionId::parse("{3f2504e0-4f89-41d3-9a0c-0305e82c3301}").is_err());
        assert!(ActionId::parse("not-a-uuid").is_err());
        assert!(ActionId::parse("3F2504E0-4F89-41D3-9A0C-0305E82C3301").is_err(), "one id has one text");
        assert!(ActionId::parse("3f2504e0-4f89-41d3-9A0c-0305e82c3301").is_err());
        assert!(ActionId::parse("3f2504e0-4f89-41d3-9a0c-0305e82c3301").is_ok());
    }

    #[test]
    fn categories_outside_the_alphabet_are_refused() {
        assert!(CategoryId::parse("ecologie").is_ok());
        assert!(CategoryId::parse("Ecologie").is_err());
        assert!(CategoryId::parse("").is_err());
        assert!(CategoryId::parse(&"a".repeat(65)).is_err());
    }
}
