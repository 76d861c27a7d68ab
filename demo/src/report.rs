//! What `ygor demo` prints when it is done: what the territory holds, read back from the
//! projections, the logins to try it as each kind of user, and ready-to-paste examples, in French,
//! then in English.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ygor_ledger::books::Circulation;
use ygor_ledger::{CitizenId, PartnerKind};
use ygor_projections::ReadModels;

use crate::lang::{en, fr, fr_count, of_neighbourhood};
use crate::plan::Plan;
use crate::{DEFAULT_LISTEN, KEYS_DIR, rfc3339};

/// A partner's login: its token, and the key file `ygor sign` signs with.
#[derive(Debug, Clone)]
pub struct Login {
    pub name: String,
    pub id: String,
    pub token: String,
    pub key_file: PathBuf,
}

/// A citizen's login, with what their year was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CitizenLogin {
    pub id: String,
    pub token: String,
    pub neighbourhood: String,
    pub age: i32,
    pub actions: u64,
    pub badges: u64,
    pub redemptions: u64,
    pub balance: u64,
}

/// What the demo built, read back from the projections.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub citizens: u64,
    pub associations: u64,
    pub venues: u64,
    pub missions: u64,
    pub open_missions: u64,
    pub certifications: u64,
    pub revoked_certifications: u64,
    pub redemptions: u64,
    pub settlements: u64,
    pub badges: u64,
    pub citizens_with_badges: u64,
    pub rules_versions: u64,
    pub draws: u64,
    pub closed_draws: u64,
    pub events: i64,
    pub circulation: Circulation,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub data_dir: PathBuf,
    /// The log is in PostgreSQL: `ygor serve` needs the same `--database-url`.
    pub postgres: bool,
    pub seed: u64,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub admin_token: String,
    pub associations: Vec<Login>,
    pub venues: Vec<Login>,
    pub citizens: Vec<CitizenLogin>,
    pub summary: Summary,
    pub tokens_file: PathBuf,
    pub elapsed: Duration,
    /// A fresh action id for the example certification.
    pub example_action_id: String,
}

impl Report {
    fn serve_command(&self) -> String {
        let database = if self.postgres { " --database-url \"$DATABASE_URL\"" } else { "" };
        format!("ygor serve --data-dir {}{database}", self.data_dir.display())
    }

    fn exports(&self) -> String {
        let mut line = format!("export ADMIN='{}'", self.admin_token);
        if let Some(association) = self.associations.first() {
            line.push_str(&format!(" ASSO='{}'", association.token));
        }
        if let Some(venue) = self.venues.first() {
            line.push_str(&format!(" VENUE='{}'", venue.token));
        }
        if let Some(citizen) = self.citizens.first() {
            line.push_str(&format!(" CITIZEN='{}'", citizen.token));
        }
        line
    }

    fn examples(&self, comments: [&str; 4]) -> String {
        let url = format!("http://{DEFAULT_LISTEN}");
        let auth = |who: &str| format!("curl -s -H \"Authorization: Bearer ${who}\"");
        let mut text = String::new();
        text.push_str(&format!("  {}\n", self.exports()));
        text.push_str(&format!("  # {}\n", comments[0]));
        text.push_str(&format!("  {} {url}/v1/dashboards/circulation\n", auth("ADMIN")));
        text.push_str(&format!("  {} '{url}/v1/dashboards/participation?by=neighbourhood'\n", auth("ADMIN")));
        text.push_str(&format!("  {} '{url}/v1/dashboards/participation?by=month&format=csv'\n", auth("ADMIN")));
        text.push_str(&format!("  # {}\n", comments[1]));
        text.push_str(&format!("  {} {url}/v1/me/wallet\n", auth("CITIZEN")));
        text.push_str(&format!("  {} {url}/v1/me/profile\n", auth("CITIZEN")));
        text.push_str(&format!("  {} {url}/v1/me/missions\n", auth("CITIZEN")));
        if let Some(venue) = self.venues.first() {
            text.push_str(&format!("  # {}\n", comments[2]));
            text.push_str(&format!("  {} {url}/v1/venues/{}/redemptions\n", auth("VENUE"), venue.id));
            text.push_str(&format!("  {} {url}/v1/venues/{}/statements\n", auth("VENUE"), venue.id));
        }
        if let (Some(association), Some(citizen)) = (self.associations.first(), self.citizens.first()) {
            text.push_str(&format!("  # {}\n", comments[3]));
            text.push_str(&format!(
                "  echo '{{\"action_id\":\"{}\",\"association_id\":\"{}\",\"citizen_id\":\"{}\",\"category\":\"ecologie\",\"quantity\":1,\"occurred_at\":\"{}\"}}' \\\n    | ygor sign certification --key {} \\\n    | curl -s -X POST {url}/v1/certifications -H \"Authorization: Bearer $ASSO\" -H 'Content-Type: application/json' --data-binary @-\n",
                self.example_action_id,
                association.id,
                citizen.id,
                rfc3339(self.end),
                association.key_file.display(),
            ));
        }
        text
    }

    /// The text `ygor demo` prints: French first, then English.
    pub fn text(&self) -> String {
        let s = &self.summary;
        let c = &s.circulation;
        let mut text = String::new();
        // Français
        text.push_str(&format!(
            "\nDémo prête : {} habitants, graine {}, du {} au {}, en {:.1} s.\n",
            fr(s.citizens),
            self.seed,
            self.start.format("%d/%m/%Y"),
            self.end.format("%d/%m/%Y"),
            self.elapsed.as_secs_f64()
        ));
        text.push_str(&format!(
            "  Territoire : {} associations, {} lieux partenaires, {} missions ({} ouvertes), {} versions des règles, {} ({} clos).\n",
            s.associations,
            s.venues,
            s.missions,
            s.open_missions,
            s.rules_versions,
            fr_count(s.draws, "tirage au sort", "tirages au sort"),
            s.closed_draws
        ));
        text.push_str(&format!(
            "  Activité : {} actions certifiées ({} révoquées), {} échanges, {} règlements, {} badges pour {} habitants, {} événements au journal.\n",
            fr(s.certifications),
            fr(s.revoked_certifications),
            fr(s.redemptions),
            fr(s.settlements),
            fr(s.badges),
            fr(s.citizens_with_badges),
            fr(s.events as u64)
        ));
        text.push_str(&format!(
            "  Jetons : {} émis par la collectivité, {} distribués, {} dépensés, {} remboursés aux lieux, {} expirés, {} révoqués, {} jetons d'or gagnés ; en trésorerie {}, enveloppes {}, portefeuilles {}, à rembourser {}.\n",
            fr(c.minted.value()),
            fr(c.issued.value()),
            fr(c.redeemed.value()),
            fr(c.recovered.value()),
            fr(c.expired.value()),
            fr(c.revoked.value()),
            fr(c.gold_issued),
            fr(c.treasury.value()),
            fr(c.envelopes.value()),
            fr(c.wallets.value()),
            fr(c.redeemed_unsettled.value())
        ));
        text.push_str(&format!("\nPour démarrer : {}  puis http://{DEFAULT_LISTEN}/docs\n", self.serve_command()));
        text.push_str(&format!(
            "\nJetons de connexion (aussi dans {}, mode 0600 ; clés des partenaires dans {}) :\n",
            self.tokens_file.display(),
            self.data_dir.join(KEYS_DIR).display()
        ));
        text.push_str(&format!("  Collectivité (administration) : {}\n", self.admin_token));
        for association in &self.associations {
            text.push_str(&format!(
                "  Association « {} » ({}) : {}\n",
                association.name, association.id, association.token
            ));
        }
        for venue in &self.venues {
            text.push_str(&format!("  Lieu « {} » ({}) : {}\n", venue.name, venue.id, venue.token));
        }
        for citizen in &self.citizens {
            text.push_str(&format!(
                "  Habitant·e {}, {} ans — {}, {}, {}, solde {} : {}\n",
                of_neighbourhood(&citizen.neighbourhood),
                citizen.age,
                fr_count(citizen.actions, "action", "actions"),
                fr_count(citizen.badges, "badge", "badges"),
                fr_count(citizen.redemptions, "échange", "échanges"),
                fr_count(citizen.balance, "jeton", "jetons"),
                citizen.token
            ));
        }
        text.push_str("\nExemples :\n");
        text.push_str(&self.examples([
            "tableaux de bord de la collectivité",
            "portefeuille, profil et missions d'un·e habitant·e",
            "échanges et relevés d'un lieu partenaire",
            "certifier une action, signée avec la clé de l'association",
        ]));
        // English
        text.push_str(&format!(
            "\nDemo ready: {} citizens, seed {}, from {} to {}, in {:.1} s.\n",
            en(s.citizens),
            self.seed,
            self.start.format("%Y-%m-%d"),
            self.end.format("%Y-%m-%d"),
            self.elapsed.as_secs_f64()
        ));
        text.push_str(&format!(
            "  Territory: {} associations, {} partner venues, {} missions ({} open), {} rules versions, {} draws ({} closed).\n",
            s.associations, s.venues, s.missions, s.open_missions, s.rules_versions, s.draws, s.closed_draws
        ));
        text.push_str(&format!(
            "  Activity: {} certified actions ({} revoked), {} redemptions, {} settlements, {} badges for {} citizens, {} events in the log.\n",
            en(s.certifications),
            en(s.revoked_certifications),
            en(s.redemptions),
            en(s.settlements),
            en(s.badges),
            en(s.citizens_with_badges),
            en(s.events as u64)
        ));
        text.push_str(&format!(
            "  Tokens: {} minted, {} issued, {} redeemed, {} recovered from venues, {} expired, {} revoked, {} gold tokens earned; treasury {}, envelopes {}, wallets {}, to settle {}.\n",
            en(c.minted.value()),
            en(c.issued.value()),
            en(c.redeemed.value()),
            en(c.recovered.value()),
            en(c.expired.value()),
            en(c.revoked.value()),
            en(c.gold_issued),
            en(c.treasury.value()),
            en(c.envelopes.value()),
            en(c.wallets.value()),
            en(c.redeemed_unsettled.value())
        ));
        text.push_str(&format!("\nTo start: {}  then http://{DEFAULT_LISTEN}/docs\n", self.serve_command()));
        text.push_str(&format!(
            "\nLogin tokens (also in {}, mode 0600; partner keys in {}):\n",
            self.tokens_file.display(),
            self.data_dir.join(KEYS_DIR).display()
        ));
        text.push_str(&format!("  Collectivity (admin): {}\n", self.admin_token));
        for association in &self.associations {
            text.push_str(&format!(
                "  Association \"{}\" ({}): {}\n",
                association.name, association.id, association.token
            ));
        }
        for venue in &self.venues {
            text.push_str(&format!("  Venue \"{}\" ({}): {}\n", venue.name, venue.id, venue.token));
        }
        for citizen in &self.citizens {
            text.push_str(&format!(
                "  Citizen of {}, aged {} — {} actions, {} badges, {} redemptions, balance {}: {}\n",
                citizen.neighbourhood,
                citizen.age,
                citizen.actions,
                citizen.badges,
                citizen.redemptions,
                citizen.balance,
                citizen.token
            ));
        }
        text.push_str("\nExamples:\n");
        text.push_str(&self.examples([
            "the collectivity's dashboards",
            "a citizen's wallet, profile and missions",
            "a venue's redemptions and statement",
            "certify an action, signed with the association's key",
        ]));
        text
    }
}

/// Reads back from the projections what the demo built, and picks the three citizens to show:
/// the most decorated one, the most frequent visitor of venues, and a senior.
pub(crate) fn read_back(models: &ReadModels, plan: &Plan, tokens: &[String]) -> (Summary, Vec<CitizenLogin>) {
    let end = plan.end;
    let mut redemptions: BTreeMap<CitizenId, u64> = BTreeMap::new();
    for book in models.venues.venues.values() {
        for redemption in &book.redemptions {
            *redemptions.entry(redemption.citizen_id).or_default() += 1;
        }
    }
    let actions =
        |id: &CitizenId| models.profiles.profiles.get(id).map(|profile| profile.counted().count() as u64).unwrap_or(0);
    let badges =
        |id: &CitizenId| models.profiles.profiles.get(id).map(|profile| profile.badges.len() as u64).unwrap_or(0);
    let index_of: HashMap<CitizenId, usize> =
        plan.citizens.iter().enumerate().map(|(index, citizen)| (citizen.id, index)).collect();
    let mut picks: Vec<CitizenId> = Vec::new();
    let ids: Vec<CitizenId> = plan.citizens.iter().map(|citizen| citizen.id).collect();
    let best = |picks: &[CitizenId], key: &dyn Fn(&CitizenId) -> (u64, u64), filter: &dyn Fn(&CitizenId) -> bool| {
        ids.iter().filter(|id| !picks.contains(id) && filter(id)).max_by_key(|id| key(id)).copied()
    };
    if let Some(id) = best(&picks, &|id| (badges(id), actions(id)), &|_| true) {
        picks.push(id);
    }
    if let Some(id) = best(&picks, &|id| (redemptions.get(id).copied().unwrap_or(0), actions(id)), &|_| true) {
        picks.push(id);
    }
    let senior = |id: &CitizenId| plan.citizens[index_of[id]].age >= 65;
    if let Some(id) = best(&picks, &|id| (actions(id), badges(id)), &senior)
        .or_else(|| best(&picks, &|id| (actions(id), badges(id)), &|_| true))
    {
        picks.push(id);
    }
    let picks: Vec<CitizenLogin> = picks
        .into_iter()
        .map(|id| {
            let index = index_of[&id];
            CitizenLogin {
                id: id.to_string(),
                token: tokens[index].clone(),
                neighbourhood: plan.citizens[index].neighbourhood.to_owned(),
                age: plan.citizens[index].age,
                actions: actions(&id),
                badges: badges(&id),
                redemptions: redemptions.get(&id).copied().unwrap_or(0),
                balance: models.wallets.get(&id).map(|wallet| wallet.spendable(end).value()).unwrap_or(0),
            }
        })
        .collect();
    let registry = || models.profiles.profiles.values().flat_map(|profile| &profile.actions);
    let summary = Summary {
        citizens: models.wallets.values().filter(|wallet| wallet.is_registered()).count() as u64,
        associations: models.partners.values().filter(|(kind, _)| *kind == PartnerKind::Association).count() as u64,
        venues: models.partners.values().filter(|(kind, _)| *kind == PartnerKind::Venue).count() as u64,
        missions: models.missions.missions.len() as u64,
        open_missions: models.missions.open_at(end).len() as u64,
        certifications: registry().count() as u64,
        revoked_certifications: registry().filter(|action| action.revoked).count() as u64,
        redemptions: redemptions.values().sum(),
        settlements: models.venues.venues.values().map(|book| book.settlements.len() as u64).sum(),
        badges: models.profiles.profiles.values().map(|profile| profile.badges.len() as u64).sum(),
        citizens_with_badges: models.profiles.profiles.values().filter(|profile| !profile.badges.is_empty()).count()
            as u64,
        rules_versions: plan.rules.len() as u64,
        draws: models.draws.len() as u64,
        closed_draws: models.draws.values().filter(|draw| draw.result().is_some()).count() as u64,
        events: models.position,
        circulation: models.circulation(),
    };
    (summary, picks)
}
