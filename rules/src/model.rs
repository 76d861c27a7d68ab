//! The rules of a territory once parsed and checked: what other crates read.
//!
//! These types are also the payload of the `RulesPublished` event, so their serde form (JSON) is a
//! stored format: it must round-trip losslessly and change only through a new event version.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{IsoDuration, RulesError};

/// The checked rules of a territory. Build them with [`Rules::parse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rules {
    /// How long a lot of tokens lives after it is issued.
    pub lifetime: IsoDuration,
    /// How long before its certification arrives an action may have occurred; `P30D` when the
    /// file does not say.
    pub backdate_max: IsoDuration,
    /// Gold tokens, or `None` when the file has no `[gold]` table.
    pub gold: Option<GoldRules>,
    /// What a token is worth in euros when venues are settled, or `None` when the file has no
    /// `[settlement]` table (settlements are then in tokens only).
    pub settlement: Option<SettlementRules>,
    /// Action categories, in file order; there is at least one and their ids are unique.
    pub categories: Vec<Category>,
    /// Badges, in file order; their ids are unique and each names a category above.
    pub badges: Vec<Badge>,
    /// The territory's neighbourhoods, in file order, ids unique; empty when the file declares
    /// none, and then any neighbourhood a citizen or a mission names is accepted.
    pub neighbourhoods: Vec<Neighbourhood>,
}

/// A neighbourhood of the territory: citizens and missions name it by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbourhood {
    pub id: String,
    pub label: String,
}

/// How often a certified action also earns a gold token, and how long a seed period lasts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GoldRules {
    /// Chance in `[0, 1]` that a certified action earns one gold token.
    pub probability: f64,
    /// Length of a seed period; `P1M` when the file does not say.
    pub period: IsoDuration,
}

/// What one token is worth when the collectivity settles a venue's redemptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementRules {
    /// The value of one token in euro cents, from 1 to [`crate::MAX_TOKEN_VALUE_CENTS`].
    pub token_value_cents: u64,
}

/// An action category and what one certified action in it earns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: String,
    pub label: String,
    /// Tokens for the action itself.
    pub tokens_per_action: u64,
    /// Extra tokens per unit of the action's `quantity` (e.g. per km); 0 when the file does not say.
    pub tokens_per_unit: u64,
    /// Tokens a citizen can earn in this category per calendar month (UTC); `None` is no cap.
    pub cap_per_citizen_per_month: Option<u64>,
    /// What one unit of an action's `quantity` is, for people (e.g. `km`); `None` when the file
    /// does not say.
    pub unit: Option<String>,
}

/// A badge (or one level of a category): awarded when a citizen's certified actions in its
/// category, within its window, reach every threshold it sets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Badge {
    pub id: String,
    pub label: String,
    /// Id of the category whose actions count.
    pub category: String,
    /// Number of certified actions needed, if the badge counts actions.
    pub actions_min: Option<u64>,
    /// Sum of the actions' `quantity` needed, if the badge sums quantities.
    pub quantity_min: Option<u64>,
    /// Only actions that occurred at or after this instant count.
    pub from: Option<DateTime<Utc>>,
    /// Only actions that occurred strictly before this instant count.
    pub to: Option<DateTime<Utc>>,
}

impl Rules {
    /// Parses and checks a rules file (TOML, see docs/api.md "Rules"). A refusal names the line it is
    /// about whenever one applies.
    pub fn parse(source: &str) -> Result<Rules, RulesError> {
        crate::parse::parse_rules(source)
    }

    /// The category with this id, if the rules define it.
    pub fn category(&self, id: &str) -> Option<&Category> {
        self.categories.iter().find(|category| category.id == id)
    }

    /// Whether a citizen or a mission may name this neighbourhood: any one when the rules
    /// declare none, else one of their ids.
    pub fn accepts_neighbourhood(&self, id: &str) -> bool {
        self.neighbourhoods.is_empty() || self.neighbourhoods.iter().any(|neighbourhood| neighbourhood.id == id)
    }

    /// Whether an action that occurred at `occurred_at` came too long before its certification,
    /// which arrived at `arrived_at`: more than `backdate_max` earlier (exactly that long is
    /// accepted). An instant so late that the duration overflows the calendar is not too old.
    pub fn occurred_too_long_ago(&self, occurred_at: DateTime<Utc>, arrived_at: DateTime<Utc>) -> bool {
        self.backdate_max.add_to(occurred_at).is_some_and(|limit| limit < arrived_at)
    }

    /// The badges of a category in level order: growing `actions_min`, then growing
    /// `quantity_min` (a missing threshold counts as 0); badges with equal thresholds keep file order.
    pub fn badges_of(&self, category: &str) -> impl Iterator<Item = &Badge> {
        let mut badges: Vec<&Badge> = self.badges.iter().filter(|badge| badge.category == category).collect();
        badges.sort_by_key(|badge| (badge.actions_min.unwrap_or(0), badge.quantity_min.unwrap_or(0)));
        badges.into_iter()
    }
}

impl Category {
    /// Tokens earned by one action of `quantity` units, before any cap:
    /// `tokens_per_action + tokens_per_unit × quantity`, or `None` if that overflows.
    pub fn tokens_for(&self, quantity: u64) -> Option<u64> {
        self.tokens_per_unit.checked_mul(quantity)?.checked_add(self.tokens_per_action)
    }
}

impl SettlementRules {
    /// The value of `tokens` tokens in euro cents: `tokens × token_value_cents`, or `None` if
    /// that overflows. Settlements, statements and the audit all value tokens with this.
    pub fn cents_for(&self, tokens: u64) -> Option<u64> {
        tokens.checked_mul(self.token_value_cents)
    }
}

impl Badge {
    /// Whether an action that occurred at `occurred_at` counts for this badge: `from` is
    /// inclusive, `to` exclusive, and a missing bound does not limit.
    pub fn window_contains(&self, occurred_at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| from <= occurred_at) && self.to.is_none_or(|to| occurred_at < to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32, month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, month, day, 0, 0, 0).single().expect("a valid test instant")
    }

    fn category(tokens_per_action: u64, tokens_per_unit: u64) -> Category {
        Category {
            id: "velo".to_owned(),
            label: "Vélo".to_owned(),
            tokens_per_action,
            tokens_per_unit,
            cap_per_citizen_per_month: None,
            unit: None,
        }
    }

    fn badge(id: &str, actions_min: Option<u64>, quantity_min: Option<u64>) -> Badge {
        Badge {
            id: id.to_owned(),
            label: id.to_owned(),
            category: "velo".to_owned(),
            actions_min,
            quantity_min,
            from: None,
            to: None,
        }
    }

    fn rules(neighbourhoods: Vec<Neighbourhood>) -> Rules {
        Rules {
            lifetime: IsoDuration { months: 6, ..IsoDuration::ZERO },
            backdate_max: IsoDuration { days: 30, ..IsoDuration::ZERO },
            gold: None,
            settlement: None,
            categories: vec![category(1, 0)],
            badges: Vec::new(),
            neighbourhoods,
        }
    }

    #[test]
    fn an_action_backdated_by_more_than_backdate_max_occurred_too_long_ago() {
        let rules = rules(Vec::new());
        let arrived_at = at(2026, 7, 31);
        assert!(!rules.occurred_too_long_ago(at(2026, 7, 30), arrived_at));
        assert!(!rules.occurred_too_long_ago(at(2026, 7, 1), arrived_at), "exactly 30 days is accepted");
        assert!(rules.occurred_too_long_ago(at(2026, 7, 1) - chrono::Duration::seconds(1), arrived_at));
        assert!(rules.occurred_too_long_ago(at(1, 1, 1), arrived_at));
        assert!(!rules.occurred_too_long_ago(DateTime::<Utc>::MAX_UTC, arrived_at));
    }

    #[test]
    fn any_neighbourhood_is_accepted_unless_the_rules_declare_some() {
        assert!(rules(Vec::new()).accepts_neighbourhood("Plaisance"));
        let declared = rules(vec![Neighbourhood { id: "plaisance".to_owned(), label: "Plaisance".to_owned() }]);
        assert!(declared.accepts_neighbourhood("plaisance"));
        assert!(!declared.accepts_neighbourhood("Plaisance"));
        assert!(!declared.accepts_neighbourhood("gare"));
    }

    #[test]
    fn an_action_earns_its_tokens_plus_its_tokens_per_unit() {
        assert_eq!(category(10, 0).tokens_for(0), Some(10));
        assert_eq!(category(10, 0).tokens_for(42), Some(10));
        assert_eq!(category(0, 1).tokens_for(50), Some(50));
        assert_eq!(category(2, 3).tokens_for(4), Some(14));
    }

    #[test]
    fn an_action_whose_tokens_overflow_earns_none() {
        assert_eq!(category(0, 2).tokens_for(u64::MAX), None);
        assert_eq!(category(1, 1).tokens_for(u64::MAX), None);
        assert_eq!(category(0, 1).tokens_for(u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn a_window_includes_its_start_and_excludes_its_end() {
        let july =
            Badge { from: Some(at(2026, 7, 1)), to: Some(at(2026, 8, 1)), ..badge("velo-juillet", None, Some(50)) };
        assert!(!july.window_contains(at(2026, 6, 30)));
        assert!(july.window_contains(at(2026, 7, 1)));
        assert!(july.window_contains(at(2026, 7, 31)));
        assert!(!july.window_contains(at(2026, 8, 1)));
    }

    #[test]
    fn a_missing_bound_does_not_limit_the_window() {
        let always = badge("velo-1", Some(1), None);
        assert!(always.window_contains(DateTime::<Utc>::MIN_UTC));
        assert!(always.window_contains(DateTime::<Utc>::MAX_UTC));
        let since = Badge { from: Some(at(2026, 7, 1)), ..badge("velo-2", Some(1), None) };
        assert!(!since.window_contains(at(2026, 6, 30)));
        assert!(since.window_contains(at(2099, 1, 1)));
    }

    #[test]
    fn badges_of_a_category_come_in_growing_thresholds_and_skip_other_categories() {
        let rules = Rules {
            badges: vec![
                badge("velo-3", Some(30), None),
                Badge { category: "culture".to_owned(), ..badge("culture-1", Some(1), None) },
                badge("velo-1", Some(3), None),
                badge("velo-2", Some(10), None),
                badge("velo-2-bis", Some(10), None),
            ],
            ..rules(Vec::new())
        };
        let ids: Vec<&str> = rules.badges_of("velo").map(|badge| badge.id.as_str()).collect();
        assert_eq!(ids, ["velo-1", "velo-2", "velo-2-bis", "velo-3"]);
        assert_eq!(rules.badges_of("ecologie").count(), 0);
    }

    #[test]
    fn tokens_are_valued_at_their_number_times_the_value_of_one() {
        let settlement = SettlementRules { token_value_cents: 50 };
        assert_eq!(settlement.cents_for(0), Some(0));
        assert_eq!(settlement.cents_for(7), Some(350));
        assert_eq!(
            SettlementRules { token_value_cents: 100_000 }.cents_for(1_000_000_000_000),
            Some(100_000_000_000_000_000)
        );
    }

    #[test]
    fn a_value_that_overflows_is_none() {
        assert_eq!(SettlementRules { token_value_cents: 2 }.cents_for(u64::MAX), None);
        assert_eq!(SettlementRules { token_value_cents: 1 }.cents_for(u64::MAX), Some(u64::MAX));
    }

    #[test]
    fn a_category_is_found_by_its_id() {
        let rules = rules(Vec::new());
        assert_eq!(rules.category("velo").map(|category| category.tokens_per_action), Some(1));
        assert_eq!(rules.category("Velo"), None);
    }
}
