//! Citizen profiles: the registry of every certified action of general interest, interests,
//! badges (awarded when an action makes a threshold hold, at that action's `occurred_at`) and
//! levels (the badges of one category, by growing threshold).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use ygor_ledger::wallet::WalletEvent;
use ygor_ledger::{ActionId, CategoryId, CitizenId, PartnerId, Tokens};
use ygor_rules::Rules;

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
    use super::*;

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
