//! The domain of Ygor: identifiers, amounts, the `Territory`, `Partner`, `Wallet`, `Mission` and
//! `Draw` aggregates, the operations that span them, the double-entry books, and the versioned
//! codec of their events. No I/O, no clock, no randomness: every time, verified signature, random
//! outcome and fact read from the log arrives inside a command.

pub mod amount;
pub mod books;
pub mod codec;
pub mod draw;
pub mod error;
pub mod ids;
mod macros;
pub mod mission;
pub mod offer;
pub mod operations;
pub mod partner;
pub mod territory;
pub mod vocabulary;
pub mod wallet;

pub use amount::{AMOUNT_MAX, Tokens};
pub use books::{AnyEvent, Books, Circulation};
pub use draw::Draw;
pub use error::{LedgerError, ParseError};
pub use ids::{
    ActionId, CategoryId, CitizenId, DrawId, LotId, MissionId, OfferId, PartnerId, PartnerKind, RedemptionId,
    SettlementId, VoucherId,
};
pub use mission::Mission;
pub use partner::Partner;
pub use territory::Territory;
pub use wallet::Wallet;
