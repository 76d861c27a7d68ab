//! A tiny in-memory world for ledger tests: aggregate states, the books, and a way to apply the
//! changes of an operation to both (what the engine does with storage in between).

#![allow(dead_code)]

use std::collections::HashMap;

use chrono::{DateTime, TimeZone, Utc};
use ygor_ledger::books::{AnyEvent, Books};
use ygor_ledger::operations::{self, Certify, Changes, Decided, RevocationOutcome};
use ygor_ledger::partner::CertificationOutcome;
use ygor_ledger::partner::{PartnerCommand, PartnerEvent, RecordedCertification};
use ygor_ledger::territory::TerritoryCommand;
use ygor_ledger::wallet::WalletCommand;
use ygor_ledger::{ActionId, CitizenId, LedgerError, Partner, PartnerId, PartnerKind, Territory, Tokens, Wallet};
use ygor_rules::Rules;

pub const RULES: &str = r#"
[tokens]
lifetime = "P6M"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 10
cap_per_citizen_per_month = 30

[[categories]]
id = "velo"
label = "Vélo"
tokens_per_action = 0
tokens_per_unit = 1
"#;

pub fn at(day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, hour, 0, 0).single().expect("valid time")
}

#[derive(Default)]
pub struct World {
    pub territory: Territory,
    pub partners: HashMap<PartnerId, Partner>,
    pub wallets: HashMap<CitizenId, Wallet>,
    /// Each partner's stream, as the store would keep it: what certifications are read back from.
    pub partner_logs: HashMap<PartnerId, Vec<PartnerEvent>>,
    pub books: Books,
}

impl World {
    /// Applies what an operation decided, posting every event to the books (which check
    /// conservation after each one).
    pub fn apply<T>(&mut self, decided: Decided<T>) -> T {
        match decided {
            Decided::Replay { outcome, .. } => outcome,
            Decided::Apply { changes, outcome } => {
                self.apply_changes(changes);
                outcome
            }
        }
    }

    pub fn apply_changes(&mut self, changes: Changes) {
        for event in changes.territory {
            self.books.post(&AnyEvent::Territory(event.clone())).expect("conservation");
            self.territory.apply_event(event);
        }
        for (id, events) in changes.partners {
            for event in events {
                self.books.post(&AnyEvent::Partner(id, event.clone())).expect("conservation");
                self.partner_logs.entry(id).or_default().push(event.clone());
                self.partners.entry(id).or_default().apply_event(event);
            }
        }
        for (id, events) in changes.wallets {
            for event in events {
                self.books.post(&AnyEvent::Wallet(id, event.clone())).expect("conservation");
                self.wallets.entry(id).or_default().apply_event(event);
            }
        }
    }

    pub fn partner(&self, id: PartnerId) -> Partner {
        self.partners.get(&id).cloned().unwrap_or_default()
    }

    /// The association's certification of `action_id` as its stream records it (what the engine
    /// reads from the store), if it certified the action.
    pub fn recorded_certification(&self, partner_id: PartnerId, action_id: ActionId) -> Option<RecordedCertification> {
        let stream = self.partner_logs.get(&partner_id)?;
        stream.iter().enumerate().find_map(|(index, event)| {
            RecordedCertification::from_event(index + 1, event.clone())
                .filter(|recorded| recorded.outcome.action_id == action_id)
        })
    }

    /// Decides a certification as the engine does: with the rules in force, the association's
    /// earlier certification of the action id if there is one, and what it reads of the wallet.
    pub fn certify(&self, command: Certify) -> Result<Decided<CertificationOutcome>, LedgerError> {
        let recorded = self.recorded_certification(command.association_id, command.action_id);
        let partner = self.partner(command.association_id);
        let wallet =
            self.wallet(command.citizen_id).crediting(command.action_id, &command.category, command.occurred_at);
        operations::certify(self.territory.rules_in_force(), &partner, recorded.as_ref(), &wallet, command)
    }

    /// Decides a revocation as the engine does (see [`World::certify`]).
    pub fn revoke(
        &self,
        association_id: PartnerId,
        citizen_id: CitizenId,
        action_id: ActionId,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Decided<RevocationOutcome>, LedgerError> {
        let recorded = self.recorded_certification(association_id, action_id);
        let partner = self.partner(association_id);
        let wallet = self.wallet(citizen_id);
        operations::revoke(&partner, &wallet, recorded.as_ref(), association_id, action_id, reason.to_owned(), at)
    }

    pub fn wallet(&self, id: CitizenId) -> Wallet {
        self.wallets.get(&id).cloned().unwrap_or_default()
    }

    pub fn publish(&mut self, source: &str, when: DateTime<Utc>) {
        let rules = Rules::parse(source).expect("rules parse");
        let events = self
            .territory
            .decide(TerritoryCommand::PublishRules { rules, source: source.to_owned(), at: when })
            .expect("publish");
        self.apply_changes(Changes { territory: events, ..Changes::default() });
    }

    pub fn mint(&mut self, amount: u64) {
        let events = self
            .territory
            .decide(TerritoryCommand::MintSupply { amount: Tokens::new(amount), at: at(1, 8) })
            .expect("mint");
        self.apply_changes(Changes { territory: events, ..Changes::default() });
    }

    pub fn register_partner(&mut self, kind: PartnerKind) -> PartnerId {
        let id = PartnerId::from_uuid(uuid::Uuid::new_v4());
        let command =
            PartnerCommand::Register { kind, name: "Test".to_owned(), public_key: "key".to_owned(), at: at(1, 8) };
        let events = self.partner(id).decide(command).expect("register");
        self.apply_changes(Changes { partners: vec![(id, events)], ..Changes::default() });
        id
    }

    pub fn register_citizen(&mut self) -> CitizenId {
        let id = CitizenId::from_uuid(uuid::Uuid::new_v4());
        let events = self
            .wallet(id)
            .decide(WalletCommand::Register { demographics: Default::default(), interests: vec![], at: at(1, 8) })
            .expect("register");
        self.apply_changes(Changes { wallets: vec![(id, events)], ..Changes::default() });
        id
    }

    /// Checks that every aggregate agrees with the books.
    pub fn assert_consistent(&self) {
        self.books.check().expect("conservation");
        let circulation = self.books.circulation();
        assert_eq!(circulation.treasury, self.territory.treasury());
        assert_eq!(circulation.minted, self.territory.minted());
        let envelopes: Tokens = self.partners.values().map(Partner::envelope).sum();
        assert_eq!(circulation.envelopes, envelopes);
        let redeemed: Tokens = self.partners.values().map(Partner::redeemed_unsettled).sum();
        assert_eq!(circulation.redeemed_unsettled, redeemed);
        let held: Tokens = self.wallets.values().map(|wallet| wallet.holdings().held()).sum();
        assert_eq!(circulation.wallets, held);
    }
}
