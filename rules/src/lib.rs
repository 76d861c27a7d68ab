//! The rules of a territory: how many tokens an action earns, how long they live, how often an
//! action also earns a gold token, and which badges a citizen can win.
//!
//! The collectivity writes them as a TOML file (see docs/api.md, "Rules"); [`Rules::parse`] turns that
//! file into checked values or refuses it with an error naming the line, so a typo never passes
//! silently. The parsed [`Rules`] are published as an event and read back on replay, which is why
//! every type here round-trips through serde. The crate is pure: no I/O, no clock, no randomness.

mod duration;
mod error;
mod model;
mod parse;

pub use duration::{DurationError, IsoDuration};
pub use error::RulesError;
pub use model::{Badge, Category, GoldRules, Neighbourhood, Rules, SettlementRules};
pub use parse::{
    DEFAULT_BACKDATE_MAX, MAX_AMOUNT, MAX_BADGES, MAX_CATEGORIES, MAX_DURATION_YEARS, MAX_ID_CHARS, MAX_LABEL_CHARS,
    MAX_NEIGHBOURHOODS, MAX_SOURCE_BYTES, MAX_TOKEN_VALUE_CENTS, MAX_UNIT_CHARS,
};
