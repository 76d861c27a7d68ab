//! The domain of Ygor: identifiers, amounts, the `Territory`, `Partner` and `Wallet` aggregates,
//! the operations that span them, and the double-entry books. No I/O, no clock, no randomness:
//! every time, verified signature and random outcome arrives inside a command.

pub mod amount;
pub mod books;
pub mod draw;
pub mod error;
pub mod footprint;
pub mod ids;
mod macros;
pub mod mission;
pub mod operations;
pub mod partner;
pub mod territory;
pub mod wallet;

pub use amount::{AMOUNT_MAX, Tokens};
pub use books::{AnyEvent, Books, Circulation};
pub use draw::Draw;
pub use error::{LedgerError, ParseError};
pub use footprint::Footprint;
pub use ids::{
    ActionId, CategoryId, CitizenId, DrawId, LotId, MissionId, PartnerId, PartnerKind, RedemptionId, SettlementId,
    VoucherId,
};
pub use mission::Mission;
pub use partner::Partner;
pub use territory::Territory;
pub use wallet::Wallet;
