//! What `ygor demo` prints when it is done: what the territory holds, read back from the
//! projections, the logins to try it as each kind of user, and ready-to-paste examples. The text
//! is written once, each sentence with its French and English wording side by side, and printed
//! in French, then in English.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ygor_ledger::books::Circulation;
use ygor_ledger::{CitizenId, PartnerKind};
use ygor_projections::ReadModels;

use crate::lang::{Lang, Noun, Value, Wording};
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
    pub offers: u64,
    /// What the settlements reimbursed the venues, in euro cents.
    pub settled_cents: u64,
    /// The offer whose reach differs most between two age bands, from the offers dashboard.
    pub under_consumed: Option<UnderConsumed>,
}

/// "« Place de théâtre » (Théâtre municipal) reaches 2.0% of 15-24 against 9.1% of 65+".
#[derive(Debug, Clone, PartialEq)]
pub struct UnderConsumed {
    pub offer: String,
    pub venue: String,
    pub low_band: String,
    pub low_percent: f64,
    pub high_band: String,
    pub high_percent: f64,
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

const fn wording(french: &'static str, english: &'static str) -> Wording {
    Wording { french, english }
}

const fn noun(french: (&'static str, &'static str), english: (&'static str, &'static str)) -> Noun {
    Noun { french, english }
}

const DRAWS: Noun = noun(("tirage au sort", "tirages au sort"), ("draw", "draws"));
const ACTIONS: Noun = noun(("action", "actions"), ("action", "actions"));
const BADGES: Noun = noun(("badge", "badges"), ("badge", "badges"));
const REDEMPTIONS: Noun = noun(("échange", "échanges"), ("redemption", "redemptions"));
const TOKENS: Noun = noun(("jeton", "jetons"), ("token", "tokens"));
const RESIDENTS: Noun = noun(("habitant", "habitants"), ("citizen", "citizens"));

impl Report {
    /// The text `ygor demo` prints: French first, then English.
    pub fn text(&self) -> String {
        [Lang::French, Lang::English].into_iter().map(|lang| self.text_in(lang)).collect()
    }

    fn text_in(&self, lang: Lang) -> String {
        use Value::{Count, Date, Neighbourhood, Number, Seconds, Text};
        let s = &self.summary;
        let c = &s.circulation;
        let mut out = Lines { lang, text: String::new() };
        let seed = self.seed.to_string();
        out.line(
            wording(
                "\nDémo prête : {citizens} habitants, graine {seed}, du {start} au {end}, en {elapsed} s.",
                "\nDemo ready: {citizens} citizens, seed {seed}, from {start} to {end}, in {elapsed} s.",
            ),
            &[
                ("citizens", Number(s.citizens)),
                ("seed", Text(&seed)),
                ("start", Date(self.start)),
                ("end", Date(self.end)),
                ("elapsed", Seconds(self.elapsed.as_secs_f64())),
            ],
        );
        out.line(
            wording(
                "  Territoire : {associations} associations, {venues} lieux partenaires, {missions} missions ({open} ouvertes), {rules} versions des règles, {draws} ({closed} clos).",
                "  Territory: {associations} associations, {venues} partner venues, {missions} missions ({open} open), {rules} rules versions, {draws} ({closed} closed).",
            ),
            &[
                ("associations", Number(s.associations)),
                ("venues", Number(s.venues)),
                ("missions", Number(s.missions)),
                ("open", Number(s.open_missions)),
                ("rules", Number(s.rules_versions)),
                ("draws", Count(s.draws, DRAWS)),
                ("closed", Number(s.closed_draws)),
            ],
        );
        out.line(
            wording(
                "  Activité : {certifications} actions certifiées ({revoked} révoquées), {redemptions} échanges, {settlements} règlements, {badges} badges pour {decorated}, {events} événements au journal.",
                "  Activity: {certifications} certified actions ({revoked} revoked), {redemptions} redemptions, {settlements} settlements, {badges} badges for {decorated}, {events} events in the log.",
            ),
            &[
                ("certifications", Number(s.certifications)),
                ("revoked", Number(s.revoked_certifications)),
                ("redemptions", Number(s.redemptions)),
                ("settlements", Number(s.settlements)),
                ("badges", Number(s.badges)),
                ("decorated", Count(s.citizens_with_badges, RESIDENTS)),
                ("events", Number(u64::try_from(s.events).unwrap_or(0))),
            ],
        );
        out.line(
            wording(
                "  Offres : {offers} publiées par les lieux ; chaque échange en nomme une, la moitié par contremarque ; {euros} remboursés aux lieux.",
                "  Offers: {offers} published by the venues; every redemption names one, half of them by countermark; {euros} reimbursed to the venues.",
            ),
            &[("offers", Number(s.offers)), ("euros", Value::Cents(s.settled_cents))],
        );
        if let Some(gap) = &s.under_consumed {
            out.line(
                wording(
                    "  Sous-consommation : « {offer} » ({venue}) touche {low} des {low_band} ans contre {high} des {high_band} ans (GET /v1/dashboards/offers).",
                    "  Under-consumed: \"{offer}\" ({venue}) reaches {low} of {low_band} year-olds against {high} of {high_band} (GET /v1/dashboards/offers).",
                ),
                &[
                    ("offer", Text(&gap.offer)),
                    ("venue", Text(&gap.venue)),
                    ("low", Value::Percent(gap.low_percent)),
                    ("low_band", Text(&gap.low_band)),
                    ("high", Value::Percent(gap.high_percent)),
                    ("high_band", Text(&gap.high_band)),
                ],
            );
        }
        out.line(
            wording(
                "  Jetons : {minted} émis par la collectivité, {issued} distribués, {redeemed} dépensés, {recovered} remboursés aux lieux, {expired} expirés, {revoked} révoqués, {gold} jetons d'or gagnés ; en trésorerie {treasury}, enveloppes {envelopes}, portefeuilles {wallets}, à rembourser {unsettled}.",
                "  Tokens: {minted} minted, {issued} issued, {redeemed} redeemed, {recovered} recovered from venues, {expired} expired, {revoked} revoked, {gold} gold tokens earned; treasury {treasury}, envelopes {envelopes}, wallets {wallets}, to settle {unsettled}.",
            ),
            &[
                ("minted", Number(c.minted.value())),
                ("issued", Number(c.issued.value())),
                ("redeemed", Number(c.redeemed.value())),
                ("recovered", Number(c.recovered.value())),
                ("expired", Number(c.expired.value())),
                ("revoked", Number(c.revoked.value())),
                ("gold", Number(c.gold_issued)),
                ("treasury", Number(c.treasury.value())),
                ("envelopes", Number(c.envelopes.value())),
                ("wallets", Number(c.wallets.value())),
                ("unsettled", Number(c.redeemed_unsettled.value())),
            ],
        );
        let serve = self.serve_command();
        out.line(
            wording(
                "\nPour démarrer : {serve}  puis {pages} (collez un jeton ci-dessous) ou {docs}",
                "\nTo start: {serve}  then {pages} (paste a token below) or {docs}",
            ),
            &[
                ("serve", Text(&serve)),
                ("pages", Text(&format!("http://{DEFAULT_LISTEN}/connexion"))),
                ("docs", Text(&format!("http://{DEFAULT_LISTEN}/docs"))),
            ],
        );
        let tokens_file = self.tokens_file.display().to_string();
        let keys_dir = self.data_dir.join(KEYS_DIR).display().to_string();
        out.line(
            wording(
                "\nJetons de connexion (aussi dans {file}, mode 0600 ; clés des partenaires dans {keys}) :",
                "\nLogin tokens (also in {file}, mode 0600; partner keys in {keys}):",
            ),
            &[("file", Text(&tokens_file)), ("keys", Text(&keys_dir))],
        );
        out.line(
            wording("  Collectivité (administration) : {token}", "  Collectivity (admin): {token}"),
            &[("token", Text(&self.admin_token))],
        );
        for association in &self.associations {
            out.line(
                wording("  Association « {name} » ({id}) : {token}", "  Association \"{name}\" ({id}): {token}"),
                &[
                    ("name", Text(&association.name)),
                    ("id", Text(&association.id)),
                    ("token", Text(&association.token)),
                ],
            );
        }
        for venue in &self.venues {
            out.line(
                wording("  Lieu « {name} » ({id}) : {token}", "  Venue \"{name}\" ({id}): {token}"),
                &[("name", Text(&venue.name)), ("id", Text(&venue.id)), ("token", Text(&venue.token))],
            );
        }
        for citizen in &self.citizens {
            out.line(
                wording(
                    "  Habitant·e {place}, {age} ans — {actions}, {badges}, {redemptions}, solde {balance} : {token}",
                    "  Citizen of {place}, aged {age} — {actions}, {badges}, {redemptions}, balance {balance}: {token}",
                ),
                &[
                    ("place", Neighbourhood(&citizen.neighbourhood)),
                    ("age", Text(&citizen.age.to_string())),
                    ("actions", Count(citizen.actions, ACTIONS)),
                    ("badges", Count(citizen.badges, BADGES)),
                    ("redemptions", Count(citizen.redemptions, REDEMPTIONS)),
                    ("balance", Count(citizen.balance, TOKENS)),
                    ("token", Text(&citizen.token)),
                ],
            );
        }
        out.line(wording("\nExemples :", "\nExamples:"), &[]);
        for example in self.examples() {
            if let Some(comment) = example.comment {
                out.line(comment, &[]);
            }
            out.verbatim(&example.command);
        }
        out.text
    }

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

    /// The ready-to-paste commands, each after the comment that says what it shows.
    fn examples(&self) -> Vec<Example> {
        let url = format!("http://{DEFAULT_LISTEN}");
        let get = |who: &str, path: &str| format!("  curl -s -H \"Authorization: Bearer ${who}\" {url}{path}");
        let quoted = |who: &str, path: &str| format!("  curl -s -H \"Authorization: Bearer ${who}\" '{url}{path}'");
        let mut examples = vec![
            Example { comment: None, command: format!("  {}", self.exports()) },
            Example {
                comment: Some(wording("  # tableaux de bord de la collectivité", "  # the collectivity's dashboards")),
                command: get("ADMIN", "/v1/dashboards/circulation"),
            },
            Example { comment: None, command: quoted("ADMIN", "/v1/dashboards/participation?by=neighbourhood") },
            Example { comment: None, command: quoted("ADMIN", "/v1/dashboards/participation?by=month&format=csv") },
            Example { comment: None, command: quoted("ADMIN", "/v1/dashboards/offers?by=offer") },
            Example {
                comment: Some(wording(
                    "  # le catalogue des offres, sans jeton",
                    "  # the catalogue of offers, without a token",
                )),
                command: format!("  curl -s {url}/v1/offers"),
            },
            Example {
                comment: Some(wording(
                    "  # portefeuille, profil et missions d'un·e habitant·e",
                    "  # a citizen's wallet, profile and missions",
                )),
                command: get("CITIZEN", "/v1/me/wallet"),
            },
            Example { comment: None, command: get("CITIZEN", "/v1/me/profile") },
            Example { comment: None, command: get("CITIZEN", "/v1/me/missions") },
        ];
        if let Some(venue) = self.venues.first() {
            examples.push(Example {
                comment: Some(wording(
                    "  # échanges et relevés d'un lieu partenaire",
                    "  # a venue's redemptions and statement",
                )),
                command: get("VENUE", &format!("/v1/venues/{}/redemptions", venue.id)),
            });
            examples
                .push(Example { comment: None, command: get("VENUE", &format!("/v1/venues/{}/statements", venue.id)) });
        }
        if let (Some(association), Some(citizen)) = (self.associations.first(), self.citizens.first()) {
            examples.push(Example {
                comment: Some(wording(
                    "  # certifier une action, signée avec la clé de l'association",
                    "  # certify an action, signed with the association's key",
                )),
                command: format!(
                    "  echo '{{\"action_id\":\"{}\",\"association_id\":\"{}\",\"citizen_id\":\"{}\",\"category\":\"ecologie\",\"quantity\":1,\"occurred_at\":\"{}\"}}' \\\n    | ygor sign certification --key {} \\\n    | curl -s -X POST {url}/v1/certifications -H \"Authorization: Bearer $ASSO\" -H 'Content-Type: application/json' --data-binary @-",
                    self.example_action_id,
                    association.id,
                    citizen.id,
                    rfc3339(self.end),
                    association.key_file.display(),
                ),
            });
        }
        examples
    }
}

/// The text in one language, line by line.
struct Lines {
    lang: Lang,
    text: String,
}

impl Lines {
    fn line(&mut self, wording: Wording, values: &[(&str, Value<'_>)]) {
        self.text.push_str(&wording.render(self.lang, values));
        self.text.push('\n');
    }

    /// A line that reads the same in both languages.
    fn verbatim(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }
}

/// A printed command, and the comment before it, if any.
struct Example {
    comment: Option<Wording>,
    command: String,
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
        offers: models.offers.offers.len() as u64,
        settled_cents: models
            .venues
            .venues
            .values()
            .flat_map(|book| &book.settlements)
            .filter_map(|settlement| settlement.value.map(|value| value.amount_cents))
            .sum(),
        under_consumed: under_consumed(models, end),
    };
    (summary, picks)
}

/// The offer, used at least 20 times, whose reach differs most between two age bands of at least
/// 20 registered citizens: what the offers dashboard is for.
fn under_consumed(models: &ReadModels, end: DateTime<Utc>) -> Option<UnderConsumed> {
    use ygor_projections::offer_uses::{Grouping, rows};
    let (rows, _) = rows(&models.venues, &models.offers, &models.wallets, Grouping::Offer, None, None, end);
    let share = |citizens: u64, registered: u64| (citizens * 1000 / registered) as f64 / 10.0;
    rows.iter()
        .filter(|row| row.uses >= 20)
        .filter_map(|row| {
            let bands: Vec<_> =
                row.by_age_band.iter().filter(|band| band.registered >= 20 && band.key != "inconnu").collect();
            let low = bands.iter().min_by_key(|band| band.citizens * 1000 / band.registered)?;
            let high = bands.iter().max_by_key(|band| band.citizens * 1000 / band.registered)?;
            let offer = models.offers.offers.get(&row.offer_id?)?;
            let gap = UnderConsumed {
                offer: offer.terms.title.clone(),
                venue: models.partner_name(&row.venue_id),
                low_band: low.key.clone(),
                low_percent: share(low.citizens, low.registered),
                high_band: high.key.clone(),
                high_percent: share(high.citizens, high.registered),
            };
            Some(gap)
        })
        .max_by(|a, b| (a.high_percent - a.low_percent).total_cmp(&(b.high_percent - b.low_percent)))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ygor_ledger::Tokens;

    use super::*;

    fn report() -> Report {
        let at = |month, day| Utc.with_ymd_and_hms(2026, month, day, 9, 30, 0).single().expect("a valid time");
        let login = |name: &str, id: &str, token: &str| Login {
            name: name.to_owned(),
            id: id.to_owned(),
            token: token.to_owned(),
            key_file: PathBuf::from(format!("/data/demo-keys/{id}.json")),
        };
        Report {
            data_dir: PathBuf::from("/data"),
            postgres: false,
            seed: 12_345,
            start: at(1, 1),
            end: at(12, 7),
            admin_token: "ygor_admin_x".to_owned(),
            associations: vec![login("Les Amis des Berges", "asso-1", "ygor_asso_x")],
            venues: vec![login("Médiathèque", "venue-1", "ygor_venue_x")],
            citizens: vec![CitizenLogin {
                id: "citizen-1".to_owned(),
                token: "ygor_cit_x".to_owned(),
                neighbourhood: "Les Rives".to_owned(),
                age: 67,
                actions: 1,
                badges: 0,
                redemptions: 2,
                balance: 1_250,
            }],
            summary: Summary {
                citizens: 3_000,
                associations: 31,
                venues: 15,
                missions: 30,
                open_missions: 9,
                certifications: 21_004,
                revoked_certifications: 61,
                redemptions: 5_120,
                settlements: 170,
                badges: 1_800,
                citizens_with_badges: 1,
                rules_versions: 3,
                draws: 1,
                closed_draws: 0,
                events: 1_234_567,
                circulation: Circulation { minted: Tokens::new(250_000), gold_issued: 0, ..Circulation::default() },
                offers: 23,
                settled_cents: 123_450,
                under_consumed: Some(UnderConsumed {
                    offer: "Place de théâtre".to_owned(),
                    venue: "Théâtre municipal".to_owned(),
                    low_band: "15-24".to_owned(),
                    low_percent: 2.0,
                    high_band: "65+".to_owned(),
                    high_percent: 9.1,
                }),
            },
            tokens_file: PathBuf::from("/data/demo-tokens.txt"),
            elapsed: Duration::from_millis(20_460),
            example_action_id: "action-1".to_owned(),
        }
    }

    #[test]
    fn the_summary_is_printed_in_french_then_in_english_from_the_same_figures() {
        let text = report().text();
        let (french, english) = text.split_once("\nDemo ready").expect("French first, then English");
        let english = format!("\nDemo ready{english}");
        for line in [
            "Démo prête : 3 000 habitants, graine 12345, du 01/01/2026 au 07/12/2026, en 20,5 s.",
            "  Territoire : 31 associations, 15 lieux partenaires, 30 missions (9 ouvertes), 3 versions des règles, 1 tirage au sort (0 clos).",
            "  Activité : 21 004 actions certifiées (61 révoquées), 5 120 échanges, 170 règlements, 1 800 badges pour 1 habitant, 1 234 567 événements au journal.",
            "  Offres : 23 publiées par les lieux ; chaque échange en nomme une, la moitié par contremarque ; 1 234,50 € remboursés aux lieux.",
            "  Sous-consommation : « Place de théâtre » (Théâtre municipal) touche 2,0 % des 15-24 ans contre 9,1 % des 65+ ans (GET /v1/dashboards/offers).",
            "  Jetons : 250 000 émis par la collectivité, 0 distribués, 0 dépensés, 0 remboursés aux lieux, 0 expirés, 0 révoqués, 0 jetons d'or gagnés ; en trésorerie 0, enveloppes 0, portefeuilles 0, à rembourser 0.",
            "Pour démarrer : ygor serve --data-dir /data  puis http://127.0.0.1:8080/connexion (collez un jeton ci-dessous) ou http://127.0.0.1:8080/docs",
            "  Association « Les Amis des Berges » (asso-1) : ygor_asso_x",
            "  Lieu « Médiathèque » (venue-1) : ygor_venue_x",
            "  Habitant·e des Rives, 67 ans — 1 action, 0 badge, 2 échanges, solde 1 250 jetons : ygor_cit_x",
            "  # certifier une action, signée avec la clé de l'association",
        ] {
            assert!(french.lines().any(|printed| printed == line), "{line:?} is not in:\n{french}");
        }
        for line in [
            "Demo ready: 3,000 citizens, seed 12345, from 2026-01-01 to 2026-12-07, in 20.5 s.",
            "  Territory: 31 associations, 15 partner venues, 30 missions (9 open), 3 rules versions, 1 draw (0 closed).",
            "  Activity: 21,004 certified actions (61 revoked), 5,120 redemptions, 170 settlements, 1,800 badges for 1 citizen, 1,234,567 events in the log.",
            "  Offers: 23 published by the venues; every redemption names one, half of them by countermark; €1,234.50 reimbursed to the venues.",
            "  Under-consumed: \"Place de théâtre\" (Théâtre municipal) reaches 2.0% of 15-24 year-olds against 9.1% of 65+ (GET /v1/dashboards/offers).",
            "  Tokens: 250,000 minted, 0 issued, 0 redeemed, 0 recovered from venues, 0 expired, 0 revoked, 0 gold tokens earned; treasury 0, envelopes 0, wallets 0, to settle 0.",
            "To start: ygor serve --data-dir /data  then http://127.0.0.1:8080/connexion (paste a token below) or http://127.0.0.1:8080/docs",
            "  Association \"Les Amis des Berges\" (asso-1): ygor_asso_x",
            "  Venue \"Médiathèque\" (venue-1): ygor_venue_x",
            "  Citizen of Les Rives, aged 67 — 1 action, 0 badges, 2 redemptions, balance 1,250 tokens: ygor_cit_x",
            "  # certify an action, signed with the association's key",
        ] {
            assert!(english.lines().any(|printed| printed == line), "{line:?} is not in:\n{english}");
        }
        // Line for line the same text, and the same commands to paste.
        assert_eq!(french.lines().count(), english.lines().count());
        let commands = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|line| line.starts_with("  export") || line.contains("curl "))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(commands(french), commands(&english));
        assert_eq!(commands(french).len(), 12);
    }
}
