//! The errors of the domain layer. `ParseError` is what a malformed value gives at the edge;
//! `LedgerError` is every business refusal a decision can make. The HTTP layer maps each variant
//! to one stable code, in one place.

use thiserror::Error;

use crate::amount::Tokens;
use crate::ids::{ActionId, CategoryId, CitizenId, OfferId, PartnerId};

/// A value from outside that does not have the required shape.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field} {message}")]
pub struct ParseError {
    pub field: &'static str,
    pub message: &'static str,
}

impl ParseError {
    pub fn new(field: &'static str, message: &'static str) -> Self {
        Self { field, message }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerError {
    #[error("{what} was already used with a different request; choose a new id or resend the original request")]
    IdConflict { what: String },
    #[error("the wallet holds {available} spendable tokens, fewer than the {requested} requested")]
    InsufficientBalance { available: Tokens, requested: Tokens },
    #[error(
        "the association's envelope holds {available} tokens, fewer than the {requested} this action earns; ask the collectivity for a new allocation"
    )]
    EnvelopeExhausted { available: Tokens, requested: Tokens },
    #[error("the treasury holds {available} tokens, fewer than the {requested} requested; mint more supply first")]
    TreasuryExhausted { available: Tokens, requested: Tokens },
    #[error("this voucher was already used; ask the citizen for a new one")]
    VoucherUsed,
    #[error("this voucher expired; ask the citizen for a new one")]
    VoucherExpired,
    #[error("the redemption of {requested} tokens exceeds the {allowed} tokens this voucher allows")]
    VoucherAmountExceeded { allowed: Tokens, requested: Tokens },
    #[error("category `{0}` is not in the rules in force")]
    UnknownCategory(CategoryId),
    #[error("partner {0} is not registered")]
    UnknownPartner(PartnerId),
    #[error("citizen {0} is not registered")]
    UnknownCitizen(CitizenId),
    #[error("this citizen is not registered")]
    NotRegistered,
    #[error("partner {0} is not an association")]
    NotAnAssociation(PartnerId),
    #[error("partner {0} is not a venue")]
    NotAVenue(PartnerId),
    #[error("partner {0} is suspended")]
    PartnerSuspended(PartnerId),
    #[error("occurred_at is in the future; certify an action once it has happened")]
    OccurredInFuture,
    #[error(
        "occurred_at is more than {backdate_max} (the rules' backdate_max) before the certification arrived; such an action can no longer be certified"
    )]
    OccurredTooLongAgo { backdate_max: String },
    #[error("neighbourhood `{0}` is not one of the neighbourhoods the rules in force declare")]
    UnknownNeighbourhood(String),
    #[error("no rules have been published yet; the collectivity must publish rules first")]
    RulesNotPublished,
    #[error("{0} is already registered")]
    AlreadyRegistered(String),
    #[error("action {0} was not certified by this association")]
    UnknownAction(ActionId),
    #[error("the citizen holds {available} gold tokens, fewer than the {requested} tickets asked for")]
    InsufficientGold { available: u64, requested: u64 },
    #[error("this draw is closed to entries")]
    DrawClosed,
    #[error("this draw cannot be closed before its closes_at")]
    DrawOpen,
    #[error("no draw has this id")]
    UnknownDraw,
    #[error("no mission of this association has this id")]
    UnknownMission,
    #[error("this venue has no offer {0}")]
    UnknownOffer(OfferId),
    #[error("offer {0} is closed or not running at this time")]
    OfferClosed(OfferId),
    #[error("offer {0} has reached its capacity for this period; try again in the next one")]
    OfferFull(OfferId),
    #[error("this voucher is for offer {0}: name it in offer_id")]
    VoucherForOffer(OfferId),
    #[error("the amount overflows the largest supported balance")]
    Overflow,
}
