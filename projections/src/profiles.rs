//! Citizen profiles: the registry of every certified action of general interest, interests,
//! badges (awarded when an action makes a threshold hold, at that action's `occurred_at`),
//! levels (the badges of one category, by growing threshold) and challenges (the badges still
//! to earn, with how far the citizen is from each).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::wallet::WalletEvent;
use ygor_ledger::{ActionId, CategoryId, CitizenId, PartnerId, Tokens};
use ygor_rules::{Badge, Rules};

/// One certified action in a citizen's registry. Its category and association are held as
/// indexes into tables of [`Profiles`] (see [`Profiles::category`], [`Profiles::association`]):
/// 56 bytes an action instead of 104 and a string of its own, and the registry is most of what a
/// server holds per action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileAction {
    pub action_id: ActionId,
    category: u32,
    pub occurred_at: DateTime<Utc>,
    association: u32,
    pub quantity: u64,
    pub tokens: Tokens,
    pub revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwardedBadge {
    pub id: String,
    pub label: String,
    pub category: String,
    /// Position of this badge among its category's badges, by growing threshold (1 = first level).
    pub level: u32,
    pub awarded_at: DateTime<Utc>,
}

/// A badge of the rules in force that a citizen has not earned and can still earn, and where
/// they stand against the threshold furthest from done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'rules> {
    pub badge: &'rules Badge,
    /// The citizen's counted actions in the badge's category and window, or the sum of their
    /// quantities, as `measure` says. It may reach `target` before the badge is awarded: a badge
    /// is awarded when an action is certified, and rules published later may set a threshold
    /// that past actions already meet.
    pub progress: u64,
    pub target: u64,
    pub measure: Measure<'rules>,
}

/// What a challenge counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure<'rules> {
    /// Actions (`actions_min`).
    Actions,
    /// The sum of the actions' `quantity` (`quantity_min`), in the category's unit if it has one.
    Quantity { unit: Option<&'rules str> },
}

impl Challenge<'_> {
    /// Orders challenges closest to done first: `Less` when this one has reached a larger share
    /// of its target than `other` (a share over the whole counts as the whole).
    fn closest_first(&self, other: &Challenge<'_>) -> std::cmp::Ordering {
        let share =
            |challenge: &Challenge<'_>| (u128::from(challenge.progress.min(challenge.target)), challenge.target);
        let ((progress, target), (other_progress, other_target)) = (share(self), share(other));
        (other_progress * u128::from(target)).cmp(&(progress * u128::from(other_target)))
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub interests: Vec<CategoryId>,
    /// In the order the certifications were recorded.
    pub actions: Vec<ProfileAction>,
    pub badges: Vec<AwardedBadge>,
}

impl Profile {
    /// Actions that count: certified and not revoked.
    pub fn counted(&self) -> impl Iterator<Item = &ProfileAction> {
        self.actions.iter().filter(|action| !action.revoked)
    }

    /// The level reached in each category that has awarded badges: (category, level, badge id).
    pub fn levels(&self) -> Vec<(String, u32, String)> {
        let mut best: BTreeMap<&str, &AwardedBadge> = BTreeMap::new();
        for badge in &self.badges {
            let entry = best.entry(badge.category.as_str()).or_insert(badge);
            if badge.level > entry.level {
                *entry = badge;
            }
        }
        best.into_iter().map(|(category, badge)| (category.to_owned(), badge.level, badge.id.clone())).collect()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "StoredProfiles")]
pub struct Profiles {
    pub profiles: BTreeMap<CitizenId, Profile>,
    /// Every category and every association an action names, once, in order of first use.
    categories: Interned<CategoryId>,
    associations: Interned<PartnerId>,
}

/// Values held once and named by their index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interned<T> {
    values: Vec<T>,
    indexes: BTreeMap<T, u32>,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned { values: Vec::new(), indexes: BTreeMap::new() }
    }
}

impl<T: Ord + Clone> Interned<T> {
    fn from_values(values: Vec<T>) -> Self {
        let indexes = values.iter().enumerate().map(|(index, value)| (value.clone(), index as u32)).collect();
        Interned { values, indexes }
    }

    fn index(&mut self, value: &T) -> u32 {
        if let Some(index) = self.indexes.get(value) {
            return *index;
        }
        let index = u32::try_from(self.values.len()).expect("fewer than 2^32 categories and associations");
        self.values.push(value.clone());
        self.indexes.insert(value.clone(), index);
        index
    }

    fn get(&self, index: u32) -> &T {
        &self.values[index as usize]
    }
}

/// How [`Profiles`] are serialised: the tables without their lookup indexes.
#[derive(Serialize, Deserialize)]
struct StoredProfiles {
    profiles: BTreeMap<CitizenId, Profile>,
    categories: Vec<CategoryId>,
    associations: Vec<PartnerId>,
}

impl From<StoredProfiles> for Profiles {
    fn from(stored: StoredProfiles) -> Self {
        Profiles {
            profiles: stored.profiles,
            categories: Interned::from_values(stored.categories),
            associations: Interned::from_values(stored.associations),
        }
    }
}

/// [`StoredProfiles`] borrowed: the same encoding, without a copy of every profile (which
/// `#[serde(into)]` would make twice per snapshot, sized then written: ≈ 34 MB each at a million
/// events, on top of the read models).
#[derive(Serialize)]
#[serde(rename = "StoredProfiles")]
struct StoredProfilesRef<'a> {
    profiles: &'a BTreeMap<CitizenId, Profile>,
    categories: &'a [CategoryId],
    associations: &'a [PartnerId],
}

impl Serialize for Profiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredProfilesRef {
            profiles: &self.profiles,
            categories: &self.categories.values,
            associations: &self.associations.values,
        }
        .serialize(serializer)
    }
}

impl Profiles {
    /// The category of an action of this registry.
    pub fn category(&self, action: &ProfileAction) -> &CategoryId {
        self.categories.get(action.category)
    }

    /// The association that certified an action of this registry.
    pub fn association(&self, action: &ProfileAction) -> PartnerId {
        *self.associations.get(action.association)
    }

    /// Whether the citizen's action was revoked (false for an action this registry does not hold).
    pub fn is_revoked(&self, citizen_id: CitizenId, action_id: ActionId) -> bool {
        self.profiles
            .get(&citizen_id)
            .is_some_and(|profile| profile.actions.iter().any(|action| action.action_id == action_id && action.revoked))
    }

    /// The challenges of `profile` under `rules` at `now`, closest to done first (badges equally
    /// close keep the order of the rules file): every badge it has not earned whose category the
    /// rules define and whose window has not ended (`to` after `now`). For a badge with both
    /// thresholds, the one furthest from done.
    pub fn challenges<'rules>(
        &self,
        profile: &Profile,
        rules: &'rules Rules,
        now: DateTime<Utc>,
    ) -> Vec<Challenge<'rules>> {
        let mut challenges: Vec<Challenge<'rules>> = rules
            .badges
            .iter()
            .filter(|badge| !profile.badges.iter().any(|awarded| awarded.id == badge.id))
            .filter(|badge| badge.to.is_none_or(|to| now < to))
            .filter_map(|badge| {
                let category = rules.category(&badge.category)?;
                let (count, quantity) = profile
                    .counted()
                    .filter(|action| {
                        self.category(action).as_str() == badge.category && badge.window_contains(action.occurred_at)
                    })
                    .fold((0u64, 0u64), |(count, quantity), action| {
                        (count + 1, quantity.saturating_add(action.quantity))
                    });
                let by_actions = badge.actions_min.map(|target| Challenge {
                    badge,
                    progress: count,
                    target,
                    measure: Measure::Actions,
                });
                let by_quantity = badge.quantity_min.map(|target| Challenge {
                    badge,
                    progress: quantity,
                    target,
                    measure: Measure::Quantity { unit: category.unit.as_deref() },
                });
                match (by_actions, by_quantity) {
                    (Some(actions), Some(quantity)) => {
                        // The threshold furthest from done is the one that says what is left to do.
                        Some(if quantity.closest_first(&actions).is_lt() { actions } else { quantity })
                    }
                    (actions, quantity) => actions.or(quantity),
                }
            })
            .collect();
        challenges.sort_by(Challenge::closest_first);
        challenges
    }

    pub fn apply(&mut self, citizen_id: CitizenId, event: &WalletEvent, rules: Option<&Rules>) {
        match event {
            WalletEvent::CitizenRegistered { interests, .. } | WalletEvent::InterestsChanged { interests, .. } => {
                self.profiles.entry(citizen_id).or_default().interests = interests.clone();
            }
            WalletEvent::ActionCertified {
                action_id, association_id, category, quantity, occurred_at, tokens, ..
            } => {
                let category_index = self.categories.index(category);
                let association = self.associations.index(association_id);
                let profile = self.profiles.entry(citizen_id).or_default();
                profile.actions.push(ProfileAction {
                    action_id: *action_id,
                    category: category_index,
                    occurred_at: *occurred_at,
                    association,
                    quantity: *quantity,
                    tokens: *tokens,
                    revoked: false,
                });
                if let Some(rules) = rules {
                    award_badges(profile, rules, category, category_index, *occurred_at);
                }
            }
            WalletEvent::CertificationRevoked { action_id, .. } => {
                if let Some(action) = self
                    .profiles
                    .get_mut(&citizen_id)
                    .and_then(|profile| profile.actions.iter_mut().find(|action| action.action_id == *action_id))
                {
                    action.revoked = true;
                }
            }
            WalletEvent::TokensRedeemed { .. } | WalletEvent::TokensExpired { .. } | WalletEvent::GoldSpent { .. } => {}
        }
    }
}

/// Awards every badge of the category that the citizen's counted actions now satisfy and that
/// was not awarded yet. A badge, once awarded, stays (even if an action is later revoked).
fn award_badges(
    profile: &mut Profile,
    rules: &Rules,
    category: &CategoryId,
    category_index: u32,
    occurred_at: DateTime<Utc>,
) {
    let badges: Vec<_> = rules.badges_of(category.as_str()).collect();
    for (index, badge) in badges.iter().enumerate() {
        if profile.badges.iter().any(|awarded| awarded.id == badge.id) {
            continue;
        }
        if !badge.window_contains(occurred_at) {
            continue;
        }
        let (count, quantity) = profile
            .counted()
            .filter(|action| action.category == category_index && badge.window_contains(action.occurred_at))
            .fold((0u64, 0u64), |(count, quantity), action| (count + 1, quantity.saturating_add(action.quantity)));
        let actions_ok = badge.actions_min.is_none_or(|minimum| count >= minimum);
        let quantity_ok = badge.quantity_min.is_none_or(|minimum| quantity >= minimum);
        if actions_ok && quantity_ok {
            profile.badges.push(AwardedBadge {
                id: badge.id.clone(),
                label: badge.label.clone(),
                category: badge.category.clone(),
                level: u32::try_from(index + 1).unwrap_or(u32::MAX),
                awarded_at: occurred_at,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const CHALLENGE_RULES: &str = r#"
[tokens]
lifetime = "P6M"

[[categories]]
id = "velo"
label = "Vélo"
tokens_per_action = 0
tokens_per_unit = 1
unit = "km"

[[categories]]
id = "ecologie"
label = "Écologie"
tokens_per_action = 10

[[badges]]
id = "ecologie-1"
label = "Écologie 1"
category = "ecologie"
actions_min = 1

[[badges]]
id = "ecologie-5"
label = "Écologie 5"
category = "ecologie"
actions_min = 5

[[badges]]
id = "ecologie-kilos"
label = "Dix ramassages et 100 kg"
category = "ecologie"
actions_min = 10
quantity_min = 100

[[badges]]
id = "velo-juillet"
label = "50 km en juillet"
category = "velo"
quantity_min = 50
from = "2026-07-01T00:00:00Z"
to = "2026-08-01T00:00:00Z"

[[badges]]
id = "velo-aout"
label = "50 km en août"
category = "velo"
quantity_min = 50
from = "2026-08-01T00:00:00Z"
to = "2026-09-01T00:00:00Z"

[[badges]]
id = "jardin-1"
label = "Jardinier"
category = "jardin"
actions_min = 1
"#;

    fn at(month: u32, day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0).single().expect("a valid test instant")
    }

    /// A citizen's profile after these certifications (category, quantity, occurred_at), the
    /// last `revoked` of them revoked, under [`CHALLENGE_RULES`].
    fn profile_after(actions: &[(&str, u64, DateTime<Utc>)], revoked: usize) -> (Profiles, CitizenId, Rules) {
        let rules = Rules::parse(CHALLENGE_RULES).expect("the test rules");
        let citizen = CitizenId::parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b").expect("an id");
        let association = PartnerId::parse("16fd2706-8baf-433b-82eb-8c7fada847da").expect("an id");
        let mut profiles = Profiles::default();
        for (index, (category, quantity, occurred_at)) in actions.iter().enumerate() {
            let action_id = ActionId::parse(&format!("00000000-0000-4000-8000-{index:012}")).expect("an id");
            let certified = WalletEvent::ActionCertified {
                action_id,
                association_id: association,
                category: CategoryId::parse(category).expect("a category"),
                quantity: *quantity,
                occurred_at: *occurred_at,
                tokens: Tokens::new(1),
                lot: None,
                gold: false,
                certified_at: *occurred_at,
            };
            profiles.apply(citizen, &certified, Some(&rules));
            if index + revoked >= actions.len() {
                let revocation = WalletEvent::CertificationRevoked {
                    action_id,
                    association_id: association,
                    lot_id: None,
                    returned: Tokens::ZERO,
                    gold_taken_back: false,
                    reason: "erreur".to_owned(),
                    revoked_at: *occurred_at,
                };
                profiles.apply(citizen, &revocation, Some(&rules));
            }
        }
        (profiles, citizen, rules)
    }

    /// (badge id, progress, target, measure) of each challenge, in order.
    fn challenges_of(
        actions: &[(&str, u64, DateTime<Utc>)],
        revoked: usize,
        now: DateTime<Utc>,
    ) -> Vec<(String, u64, u64, String)> {
        let (profiles, citizen, rules) = profile_after(actions, revoked);
        let profile = profiles.profiles.get(&citizen).cloned().unwrap_or_default();
        profiles
            .challenges(&profile, &rules, now)
            .into_iter()
            .map(|challenge| {
                let measure = match challenge.measure {
                    Measure::Actions => "actions".to_owned(),
                    Measure::Quantity { unit } => format!("quantity in {}", unit.unwrap_or("-")),
                };
                (challenge.badge.id.clone(), challenge.progress, challenge.target, measure)
            })
            .collect()
    }

    fn challenge(id: &str, progress: u64, target: u64, measure: &str) -> (String, u64, u64, String) {
        (id.to_owned(), progress, target, measure.to_owned())
    }

    #[test]
    fn a_new_citizen_faces_every_badge_whose_category_exists_and_window_is_open() {
        let challenges = challenges_of(&[], 0, at(7, 15));
        assert_eq!(
            challenges,
            [
                challenge("ecologie-1", 0, 1, "actions"),
                challenge("ecologie-5", 0, 5, "actions"),
                challenge("ecologie-kilos", 0, 100, "quantity in -"),
                challenge("velo-juillet", 0, 50, "quantity in km"),
                challenge("velo-aout", 0, 50, "quantity in km"),
            ],
            "equally far from done, in the order of the rules; `jardin` is no category of these rules"
        );
    }

    #[test]
    fn earned_badges_and_ended_windows_are_no_challenge_and_the_closest_comes_first() {
        let actions = [("ecologie", 0, at(7, 1)), ("ecologie", 0, at(7, 2)), ("velo", 32, at(7, 3))];
        // On 1 August, July's window has ended (`to` is exclusive) and August's counts nothing yet.
        let challenges = challenges_of(&actions, 0, at(8, 1));
        assert_eq!(
            challenges,
            [
                challenge("ecologie-5", 2, 5, "actions"),
                challenge("ecologie-kilos", 0, 100, "quantity in -"),
                challenge("velo-aout", 0, 50, "quantity in km"),
            ]
        );
        // In July, 32 of 50 km comes first.
        assert_eq!(challenges_of(&actions, 0, at(7, 20))[0], challenge("velo-juillet", 32, 50, "quantity in km"));
    }

    #[test]
    fn a_badge_with_two_thresholds_shows_the_one_furthest_from_done() {
        let many_light = vec![("ecologie", 1, at(7, 1)); 8];
        let kilos = |challenges: Vec<(String, u64, u64, String)>| {
            challenges.into_iter().find(|challenge| challenge.0 == "ecologie-kilos").expect("a challenge")
        };
        // 8 of 10 actions, 8 of 100 units: the quantity is further from done.
        assert_eq!(
            kilos(challenges_of(&many_light, 0, at(7, 2))),
            challenge("ecologie-kilos", 8, 100, "quantity in -")
        );
        let few_heavy = vec![("ecologie", 40, at(7, 1)); 2];
        // 2 of 10 actions, 80 of 100 units: the actions are.
        assert_eq!(kilos(challenges_of(&few_heavy, 0, at(7, 2))), challenge("ecologie-kilos", 2, 10, "actions"));
    }

    #[test]
    fn revoked_actions_and_actions_outside_the_window_do_not_count() {
        let actions = [("velo", 20, at(6, 30)), ("velo", 10, at(7, 1)), ("velo", 15, at(7, 2))];
        let challenges = challenges_of(&actions, 1, at(7, 20));
        assert_eq!(challenges[0], challenge("velo-juillet", 10, 50, "quantity in km"));
    }

    /// The borrowed form serialises exactly as the stored form it stands for, and reads back.
    #[test]
    fn profiles_serialise_as_their_stored_form_without_a_copy() {
        let mut profiles = Profiles::default();
        let citizen = CitizenId::parse("6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b").expect("an id");
        let culture = CategoryId::parse("culture").expect("a category");
        profiles.categories.index(&culture);
        profiles.associations.index(&PartnerId::parse("16fd2706-8baf-433b-82eb-8c7fada847da").expect("an id"));
        profiles.profiles.insert(citizen, Profile { interests: vec![culture], ..Profile::default() });
        let stored = StoredProfiles {
            profiles: profiles.profiles.clone(),
            categories: profiles.categories.values.clone(),
            associations: profiles.associations.values.clone(),
        };
        let bytes = postcard::to_allocvec(&profiles).expect("serialises");
        assert_eq!(bytes, postcard::to_allocvec(&stored).expect("serialises"));
        assert_eq!(postcard::from_bytes::<Profiles>(&bytes).expect("reads back"), profiles);
        assert_eq!(
            serde_json::to_value(&profiles).expect("to JSON"),
            serde_json::to_value(&stored).expect("to JSON"),
            "and in a self-describing format"
        );
    }
}
