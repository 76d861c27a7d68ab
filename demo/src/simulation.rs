//! Carrying the plan out through the engine, day by day, with real signatures and keys.
//!
//! Each day runs, in this order: the collectivity's chores (weekly expiry sweep, monthly
//! settlements and envelope top-ups, rules changes, missions), then the registrations, the
//! redemptions (which spend only what was certified on earlier days), the certifications, the
//! revocations and interest changes, and the draws. Within a phase the commands of different
//! citizens run concurrently; one citizen's commands run in time order, so monthly caps always
//! decide the same way.

use std::collections::BTreeMap;
use std::future::Future;
use std::ops::AddAssign;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};
use futures::StreamExt;
use serde_json::{Map, Value};
use ygor_api::AppState;
use ygor_api::routes::association::verify_partner_signature;
use ygor_api::routes::offers::VOUCHER_LIFETIME;
use ygor_crypto::{SecretKey, SignedKind, VoucherClaims};
use ygor_engine::{Engine, EngineError, PartnerInfo};
use ygor_ledger::books::Account;
use ygor_ledger::mission::MissionDetails;
use ygor_ledger::offer::{Capacity, OfferTerms};
use ygor_ledger::operations::{Certify, Redeem};
use ygor_ledger::wallet::{Demographics, VerifiedVoucher};
use ygor_ledger::{CitizenId, DrawId, LedgerError, OfferId, PartnerId, PartnerKind, Tokens, VoucherId};
use ygor_store::CitizenDetails;

use crate::lang::Lang;
use crate::plan::{CertificationPlan, CitizenPlan, InterestChange, Plan, RedemptionPlan, RevocationPlan};
use crate::random::{Part, Random};
use crate::territory::{ASSOCIATIONS, OfferSpec, VENUES, category_id};
use crate::{DemoError, rfc3339};

/// How many citizens' commands run at the same time.
const CONCURRENCY: usize = 16;

/// How long the demo waits for the projections to apply what it wrote.
const PROJECTION_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// The progress lines are in French.
const FRENCH: Lang = Lang::French;

pub(crate) struct Partner {
    pub(crate) id: PartnerId,
    pub(crate) name: &'static str,
    pub(crate) key: SecretKey,
    pub(crate) info: std::sync::Arc<PartnerInfo>,
    pub(crate) token: String,
    pub(crate) key_file: PathBuf,
}

/// What the concurrent jobs share.
pub(crate) struct Context {
    pub(crate) engine: Engine,
    pub(crate) state: AppState,
    pub(crate) associations: Vec<Partner>,
    pub(crate) venues: Vec<Partner>,
    pub(crate) citizens: Vec<CitizenId>,
    /// Each venue's offers, in the order of its [`VenueSpec`](crate::territory::VenueSpec).
    pub(crate) offers: Vec<Vec<OfferId>>,
    pub(crate) seed: u64,
}

/// What a batch of commands did, for the progress lines and the summary.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    pub(crate) registered: u64,
    pub(crate) certified: u64,
    pub(crate) issued: u64,
    pub(crate) capped: u64,
    pub(crate) redemptions: u64,
    pub(crate) redeemed: u64,
    pub(crate) revocations: u64,
    pub(crate) expired: u64,
    pub(crate) settled: u64,
    pub(crate) settlements: u64,
    pub(crate) draw_entries: u64,
    pub(crate) tickets: u64,
    /// Visits that found the offer full for the day, week or month.
    pub(crate) turned_away: u64,
}

impl AddAssign for Tally {
    fn add_assign(&mut self, other: Tally) {
        self.registered += other.registered;
        self.certified += other.certified;
        self.issued += other.issued;
        self.capped += other.capped;
        self.redemptions += other.redemptions;
        self.redeemed += other.redeemed;
        self.revocations += other.revocations;
        self.expired += other.expired;
        self.settled += other.settled;
        self.settlements += other.settlements;
        self.draw_entries += other.draw_entries;
        self.tickets += other.tickets;
        self.turned_away += other.turned_away;
    }
}

/// Runs one job per item, at most [`CONCURRENCY`] at a time, on the runtime's threads.
pub(crate) async fn in_parallel<T, F, Fut>(items: Vec<T>, job: F) -> Result<Tally, DemoError>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<Tally, DemoError>> + Send + 'static,
{
    let mut running = futures::stream::iter(items).map(|item| tokio::spawn(job(item))).buffer_unordered(CONCURRENCY);
    let mut tally = Tally::default();
    while let Some(joined) = running.next().await {
        tally += joined.map_err(|error| DemoError::Io(format!("a demo task failed: {error}")))??;
    }
    Ok(tally)
}

/// Signs an object as the partner would, and checks it exactly as the HTTP edge does; returns
/// the signature, the fingerprint and the signed object, all stored with the event.
fn sign(
    kind: SignedKind,
    object: Map<String, Value>,
    partner: &Partner,
) -> Result<(String, String, ygor_ledger::partner::SignedRequest), DemoError> {
    let signed = ygor_crypto::sign_object(kind, object, &partner.key)?;
    let fingerprint =
        verify_partner_signature(kind, &signed, &partner.info).map_err(|error| DemoError::Signature(error.detail))?;
    let signature = signed
        .get(ygor_crypto::SIGNATURE_FIELD)
        .and_then(Value::as_str)
        .expect("sign_object sets the signature")
        .to_owned();
    Ok((signature, fingerprint, ygor_ledger::partner::SignedRequest::of(signed)))
}

async fn register(context: Arc<Context>, job: (CitizenPlan, [u8; 32])) -> Result<Tally, DemoError> {
    let (citizen, token_hash) = job;
    let details = CitizenDetails {
        citizen_id: citizen.id.to_string(),
        neighbourhood: Some(citizen.neighbourhood.to_owned()),
        birth_year: Some(citizen.birth_year),
        email: None,
    };
    let demographics = Demographics { neighbourhood: details.neighbourhood.clone(), birth_year: details.birth_year };
    let interests = citizen.interests.iter().map(|category| category_id(category)).collect();
    context
        .engine
        .register_citizen(
            citizen.id,
            demographics,
            interests,
            details,
            token_hash,
            ygor_crypto::random_short_code,
            citizen.registered_at,
        )
        .await?;
    Ok(Tally { registered: 1, ..Tally::default() })
}

/// One citizen's certifications of the day, in time order (monthly caps depend on the order).
async fn certify(context: Arc<Context>, mut jobs: Vec<CertificationPlan>) -> Result<Tally, DemoError> {
    jobs.sort_by_key(|job| job.at);
    let mut tally = Tally::default();
    for job in jobs {
        let association = &context.associations[job.association];
        let citizen_id = context.citizens[job.citizen];
        let mut object = Map::new();
        object.insert("action_id".to_owned(), Value::from(job.action_id.to_string()));
        object.insert("association_id".to_owned(), Value::from(association.id.to_string()));
        object.insert("citizen_id".to_owned(), Value::from(citizen_id.to_string()));
        object.insert("category".to_owned(), Value::from(job.category));
        object.insert("quantity".to_owned(), Value::from(job.quantity));
        object.insert("occurred_at".to_owned(), Value::from(rfc3339(job.occurred_at)));
        let (signature, fingerprint, request) = sign(SignedKind::Certification, object, association)?;
        let command = Certify {
            action_id: job.action_id,
            association_id: association.id,
            citizen_id,
            category: category_id(job.category),
            quantity: job.quantity,
            occurred_at: job.occurred_at,
            signature,
            request,
            fingerprint,
            gold: false,
            gold_period: None,
            lot_id: job.lot_id,
            at: job.at,
        };
        let outcome = context.engine.certify(command).await?.outcome;
        tally.certified += 1;
        tally.issued += outcome.tokens.value();
        if outcome.tokens.is_zero() {
            tally.capped += 1;
        }
    }
    Ok(tally)
}

/// The offer a citizen takes at a venue with what they can spend: the one they wish for if they
/// can afford it, else the dearest they can afford.
fn chosen_offer(offers: &[OfferSpec], wish: u64, balance: u64) -> Option<usize> {
    let wished = (wish % offers.len() as u64) as usize;
    if offers[wished].price <= balance {
        return Some(wished);
    }
    (0..offers.len()).filter(|index| offers[*index].price <= balance).max_by_key(|index| offers[*index].price)
}

/// Groups one phase's jobs by citizen: one citizen's commands run one after the other.
fn by_citizen<T>(jobs: Vec<T>, citizen: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut groups: BTreeMap<usize, Vec<T>> = BTreeMap::new();
    for job in jobs {
        groups.entry(citizen(&job)).or_default().push(job);
    }
    groups.into_values().collect()
}

/// One citizen's visits to venues of the day, in time order (each spends what the last left).
async fn redeem_all(context: Arc<Context>, mut jobs: Vec<RedemptionPlan>) -> Result<Tally, DemoError> {
    jobs.sort_by_key(|job| job.at);
    let mut tally = Tally::default();
    for job in jobs {
        tally += redeem(context.clone(), job).await?;
    }
    Ok(tally)
}

/// A citizen asks for a voucher for an offer and shows it at a venue, which redeems it: by the
/// voucher's QR code, or by its countermark read aloud (about half the time).
async fn redeem(context: Arc<Context>, job: RedemptionPlan) -> Result<Tally, DemoError> {
    let citizen_id = context.citizens[job.citizen];
    let balance = context.engine.wallet(citizen_id).await?.holdings().spendable(job.at).value();
    let offers = VENUES[job.venue].offers;
    let Some(chosen) = chosen_offer(offers, job.wish, balance) else {
        return Ok(Tally::default());
    };
    let (amount, offer_id) = (offers[chosen].price, context.offers[job.venue][chosen]);
    let venue = &context.venues[job.venue];
    let issued_at = job.at - TimeDelta::minutes(3);
    let claims = VoucherClaims {
        voucher_id: job.voucher_id.as_uuid(),
        citizen_id: citizen_id.as_uuid(),
        amount_max: amount,
        issued_at,
        expires_at: issued_at + VOUCHER_LIFETIME,
        offer_id: Some(offer_id.as_uuid()),
    };
    let voucher_text = ygor_crypto::issue_voucher(&claims, context.state.territory_key())?;
    let mut object = Map::new();
    object.insert("redemption_id".to_owned(), Value::from(job.redemption_id.to_string()));
    object.insert("venue_id".to_owned(), Value::from(venue.id.to_string()));
    if (job.wish >> 32).is_multiple_of(2) {
        object.insert("countermark".to_owned(), Value::from(ygor_crypto::voucher_countermark(&voucher_text)));
    } else {
        object.insert("voucher".to_owned(), Value::from(voucher_text.clone()));
    }
    object.insert("offer_id".to_owned(), Value::from(offer_id.to_string()));
    object.insert("amount".to_owned(), Value::from(amount));
    let (signature, fingerprint, request) = sign(SignedKind::Redemption, object, venue)?;
    // The venue's side opens the voucher with the territory's public key, as the HTTP edge does.
    let opened = ygor_crypto::open_voucher(&voucher_text, context.state.territory_public_key())?;
    let voucher = VerifiedVoucher {
        voucher_id: VoucherId::from_uuid(opened.voucher_id),
        amount_max: Tokens::new(opened.amount_max),
        expires_at: opened.expires_at,
        offer_id: opened.offer_id.map(OfferId::from_uuid),
    };
    let command = Redeem {
        redemption_id: job.redemption_id,
        venue_id: venue.id,
        citizen_id: CitizenId::from_uuid(opened.citizen_id),
        voucher,
        voucher_text,
        amount: Tokens::new(amount),
        offer_id: Some(offer_id),
        signature,
        request,
        fingerprint,
        at: job.at,
    };
    match context.engine.redeem(command).await {
        Ok(committed) => Ok(Tally { redemptions: 1, redeemed: committed.outcome.amount.value(), ..Tally::default() }),
        Err(EngineError::Ledger(LedgerError::OfferFull(_))) => Ok(Tally { turned_away: 1, ..Tally::default() }),
        Err(error) => Err(error.into()),
    }
}

/// Each venue publishes its offers, right after the partners are registered.
pub(crate) async fn publish_offers(
    engine: &Engine,
    venues: &[Partner],
    seed: u64,
    at: DateTime<Utc>,
) -> Result<Vec<Vec<OfferId>>, DemoError> {
    let mut published = Vec::new();
    for (index, (venue, spec)) in venues.iter().zip(VENUES).enumerate() {
        let mut ids = Vec::new();
        for (number, offer) in spec.offers.iter().enumerate() {
            let mut random = Random::new(seed, Part::Offers, ((index as u64) << 8) | number as u64);
            let offer_id = OfferId::from_uuid(random.uuid());
            let terms = OfferTerms {
                title: offer.title.to_owned(),
                description: None,
                category: None,
                price: Tokens::new(offer.price),
                capacity: offer.capacity.map(|(count, per)| Capacity { count, per }),
                audience: None,
                starts_at: None,
                ends_at: None,
            };
            engine.publish_offer(venue.id, offer_id, terms, at).await?;
            ids.push(offer_id);
        }
        published.push(ids);
    }
    Ok(published)
}

async fn revoke(context: Arc<Context>, job: RevocationPlan) -> Result<Tally, DemoError> {
    let association = context.associations[job.association].id;
    context.engine.revoke(association, job.action_id, job.reason.to_owned(), job.at).await?;
    Ok(Tally { revocations: 1, ..Tally::default() })
}

async fn change_interests(context: Arc<Context>, job: InterestChange) -> Result<Tally, DemoError> {
    let interests = job.interests.iter().map(|category| category_id(category)).collect();
    context.engine.set_interests(context.citizens[job.citizen], interests, job.at).await?;
    Ok(Tally::default())
}

/// Most citizens who hold gold tokens spend some of them as tickets in a draw.
async fn enter_draw(context: Arc<Context>, job: (usize, DrawId, usize, DateTime<Utc>)) -> Result<Tally, DemoError> {
    let (draw, draw_id, citizen, at) = job;
    let citizen_id = context.citizens[citizen];
    let gold = context.engine.wallet(citizen_id).await?.holdings().gold();
    // Drawn here but from the citizen's own stream, so the concurrent order does not matter.
    let mut random = Random::new(context.seed, Part::Draws, ((draw as u64 + 1) << 32) | citizen as u64);
    if gold == 0 || !random.chance(0.7) {
        return Ok(Tally::default());
    }
    let tickets = 1 + random.below(gold);
    context.engine.enter_draw(draw_id, citizen_id, tickets, at).await?;
    Ok(Tally { draw_entries: 1, tickets, ..Tally::default() })
}

/// Waits until the projections have applied everything written so far.
pub(crate) async fn caught_up(state: &AppState) -> Result<(), DemoError> {
    let position = state.log().last_position().await?;
    if state.projections().wait_for(position, PROJECTION_WAIT).await {
        Ok(())
    } else {
        Err(DemoError::Projections(format!("the projections did not reach position {position}")))
    }
}

/// The weekly expiry sweep, as `POST /v1/expiry/sweep` does it.
async fn sweep(context: &Context, at: DateTime<Utc>) -> Result<Tally, DemoError> {
    caught_up(&context.state).await?;
    let candidates = context.state.projections().read(|models| models.wallets_with_expired_lots(at));
    let outcome = context.engine.sweep(candidates, at).await?.outcome;
    Ok(Tally { expired: outcome.expired_tokens.value(), ..Tally::default() })
}

/// What each association keeps in its envelope beyond what the plan says it will certify, as a
/// collectivity that does not allocate to the token would. Without it an association often ended
/// the year with an empty envelope (the plan's needs are exact, and so were the top-ups), and the
/// first action certified after the demo, such as the printed example, was refused.
pub(crate) const ENVELOPE_RESERVE: u64 = 50;

/// Monthly: settles every venue, then tops up each association's envelope to what it will need
/// this month plus the [`ENVELOPE_RESERVE`], minting more supply when the treasury runs short.
/// As the plan's needs are an upper bound and revocations only give back, every envelope holds
/// at least the reserve at any time after its first top-up.
async fn monthly(context: &Context, plan: &Plan, day: usize, tally: &mut Tally) -> Result<(), DemoError> {
    if day > 0 {
        let at = plan.time(day, 6, 0, 0);
        for venue in &context.venues {
            let settled = context.engine.settle(venue.id, at).await?.outcome;
            if !settled.amount.is_zero() {
                tally.settlements += 1;
                tally.settled += settled.amount.value();
            }
        }
    }
    caught_up(&context.state).await?;
    let month = plan.month(plan.date(day));
    let (treasury, allocations) = context.state.projections().read(|models| {
        let allocations: Vec<u64> = context
            .associations
            .iter()
            .enumerate()
            .map(|(index, association)| {
                let holds = models.books.balance(Account::Envelope(association.id)).value();
                (plan.envelope_needs[month][index] + ENVELOPE_RESERVE).saturating_sub(holds).div_ceil(50) * 50
            })
            .collect();
        (models.circulation().treasury.value(), allocations)
    });
    let needed: u64 = allocations.iter().sum();
    if needed > treasury {
        let amount = (needed - treasury).div_ceil(10_000) * 10_000;
        context.engine.mint(Tokens::new(amount), plan.time(day, 7, 15, 0)).await?;
        eprintln!(
            "[démo] {} : dotation complémentaire de {} jetons",
            plan.date(day).format("%d/%m/%Y"),
            FRENCH.number(amount)
        );
    }
    for (association, amount) in context.associations.iter().zip(allocations) {
        if amount > 0 {
            context.engine.allocate_envelope(association.id, Tokens::new(amount), plan.time(day, 7, 30, 0)).await?;
        }
    }
    Ok(())
}

const MONTHS: [&str; 12] =
    ["janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."];

/// Registers the partners with fresh keys (written to `demo-keys/`) and tokens.
pub(crate) async fn register_partners(
    engine: &Engine,
    plan: &Plan,
    keys_dir: &Path,
) -> Result<(Vec<Partner>, Vec<Partner>), DemoError> {
    std::fs::create_dir_all(keys_dir)
        .map_err(|error| DemoError::Io(format!("cannot create {}: {error}", keys_dir.display())))?;
    let specs = ASSOCIATIONS
        .iter()
        .map(|spec| (PartnerKind::Association, spec.name))
        .chain(VENUES.iter().map(|spec| (PartnerKind::Venue, spec.name)));
    let mut associations = Vec::new();
    let mut venues = Vec::new();
    for (index, (kind, name)) in specs.enumerate() {
        let key = SecretKey::generate();
        let number = if kind == PartnerKind::Association { index + 1 } else { index + 1 - ASSOCIATIONS.len() };
        let key_file = keys_dir.join(format!("{kind}-{number:02}-{}.json", slug(name)));
        ygor_crypto::write_key_file(&key_file, &key).map_err(|error| {
            DemoError::Io(format!("cannot write {}: {error}; choose an empty directory", key_file.display()))
        })?;
        let prefix = if kind == PartnerKind::Association { "ygor_asso_" } else { "ygor_venue_" };
        let token = ygor_crypto::generate_token(prefix);
        let id = plan.partner_ids[index];
        let at = plan.start + TimeDelta::minutes(15) + TimeDelta::seconds(index as i64);
        engine
            .register_partner(
                id,
                kind,
                name.to_owned(),
                key.public_key().to_string(),
                ygor_crypto::hash_token(&token),
                at,
            )
            .await?;
        let info = engine.partner_info(id).await?.expect("a partner just registered is known");
        let partner = Partner { id, name, key, info, token, key_file };
        match kind {
            PartnerKind::Association => associations.push(partner),
            PartnerKind::Venue => venues.push(partner),
        }
    }
    Ok((associations, venues))
}

/// A file name from a French name: `Vélo en Ville` → `velo-en-ville`.
fn slug(name: &str) -> String {
    let mut slug = String::new();
    for character in name.chars().flat_map(char::to_lowercase) {
        let plain = match character {
            'à' | 'â' | 'ä' => 'a',
            'ç' => 'c',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'œ' => {
                slug.push_str("oe");
                continue;
            }
            other if other.is_ascii_alphanumeric() => other,
            _ => '-',
        };
        if plain != '-' || !(slug.is_empty() || slug.ends_with('-')) {
            slug.push(plain);
        }
        if slug.len() >= 40 {
            break;
        }
    }
    slug.trim_end_matches('-').to_owned()
}

/// Walks the year, day by day.
pub(crate) async fn simulate(context: Arc<Context>, mut plan: Plan, tokens: &[String]) -> Result<Plan, DemoError> {
    let engine = &context.engine;
    let mut total = Tally::default();
    let mut month_tally = Tally::default();
    for day in 0..plan.days.len() {
        let date = plan.date(day);
        let mut today = std::mem::take(&mut plan.days[day]);
        if day > 0 && date.weekday() == Weekday::Mon {
            month_tally += sweep(&context, plan.time(day, 3, 0, 0)).await?;
        }
        // In time order: settlements at 06:00, envelopes at 07:30, rules changes at 07:45.
        if date.day() == 1 {
            monthly(&context, &plan, day, &mut month_tally).await?;
        }
        for index in std::mem::take(&mut today.rules_changes) {
            let change = &plan.rules[index];
            let version = engine.publish_rules(change.rules.clone(), change.source.clone(), change.at).await?.outcome.0;
            eprintln!("[démo] {} : règles v{version} — {}", date.format("%d/%m/%Y"), change.note);
        }
        for index in &today.missions_published {
            let mission = &plan.missions[*index];
            let details = MissionDetails {
                association_id: context.associations[mission.association].id,
                title: mission.title.clone(),
                categories: mission.categories.iter().map(|category| category_id(category)).collect(),
                neighbourhood: mission.neighbourhood.map(str::to_owned),
                starts_at: mission.starts_at,
                ends_at: mission.ends_at,
            };
            engine.publish_mission(mission.id, details, mission.published_at).await?;
        }
        for index in &today.missions_closed {
            let mission = &plan.missions[*index];
            let closed_at = mission.closed_at.expect("a mission closed today has a closing time");
            engine.close_mission(mission.id, context.associations[mission.association].id, closed_at).await?;
        }
        let registrations: Vec<(CitizenPlan, [u8; 32])> = today
            .registrations
            .iter()
            .map(|index| (plan.citizens[*index].clone(), ygor_crypto::hash_token(&tokens[*index])))
            .collect();
        month_tally += in_parallel(registrations, |job| register(context.clone(), job)).await?;
        month_tally +=
            in_parallel(by_citizen(today.redemptions, |job| job.citizen), |jobs| redeem_all(context.clone(), jobs))
                .await?;
        month_tally +=
            in_parallel(by_citizen(today.certifications, |job| job.citizen), |jobs| certify(context.clone(), jobs))
                .await?;
        month_tally += in_parallel(today.revocations, |job| revoke(context.clone(), job)).await?;
        month_tally += in_parallel(today.interest_changes, |job| change_interests(context.clone(), job)).await?;
        for index in today.draws_created {
            let draw = &plan.draws[index];
            engine.create_draw(draw.id, draw.prize.to_owned(), draw.closes_at, draw.winners, draw.created_at).await?;
            eprintln!("[démo] {} : tirage au sort « {} » ouvert aux jetons d'or", date.format("%d/%m/%Y"), draw.prize);
        }
        for index in today.draws_entered {
            let draw = &plan.draws[index];
            let jobs = (0..plan.citizens.len()).map(|citizen| (index, draw.id, citizen, draw.entries_at)).collect();
            let entered = in_parallel(jobs, |job| enter_draw(context.clone(), job)).await?;
            eprintln!(
                "[démo] {} : {} au tirage « {} » ({})",
                date.format("%d/%m/%Y"),
                FRENCH.count(entered.draw_entries, "participant", "participants"),
                draw.prize,
                FRENCH.count(entered.tickets, "ticket", "tickets")
            );
        }
        for index in today.draws_closed {
            let draw = &plan.draws[index];
            let closed_at = draw.closed_at.expect("a draw closed today has a closing time");
            let result = engine.close_draw(draw.id, closed_at).await?.outcome;
            eprintln!(
                "[démo] {} : tirage « {} » clos, {}",
                date.format("%d/%m/%Y"),
                draw.prize,
                FRENCH.count(result.winners.len() as u64, "gagnant", "gagnants")
            );
        }
        let last_of_month = day + 1 == plan.days.len() || plan.date(day + 1).day() == 1;
        if day + 1 == plan.days.len() {
            month_tally += sweep(&context, plan.end).await?;
        }
        if last_of_month {
            total += month_tally;
            eprintln!(
                "[démo] {} {} : {} (total {}), {} ({}, {} au plafond), {} ({}, {} complet), {}, {}, {}",
                MONTHS[date.month() as usize - 1],
                date.year(),
                FRENCH.count(month_tally.registered, "inscrit", "inscrits"),
                FRENCH.number(total.registered),
                FRENCH.count(month_tally.certified, "action certifiée", "actions certifiées"),
                FRENCH.count(month_tally.issued, "jeton", "jetons"),
                FRENCH.number(month_tally.capped),
                FRENCH.count(month_tally.redemptions, "échange", "échanges"),
                FRENCH.count(month_tally.redeemed, "jeton", "jetons"),
                FRENCH.number(month_tally.turned_away),
                FRENCH.count(month_tally.revocations, "révocation", "révocations"),
                FRENCH.count(month_tally.expired, "jeton expiré", "jetons expirés"),
                FRENCH.count(month_tally.settled, "jeton remboursé aux lieux", "jetons remboursés aux lieux"),
            );
            month_tally = Tally::default();
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redemptions_take_what_the_citizen_can_afford() {
        // The low bits choose the offer (the high bits choose voucher or countermark).
        let one = 1 << 32;
        const OFFERS: &[OfferSpec] = &[
            OfferSpec { title: "Entrée", price: 5, capacity: None },
            OfferSpec { title: "Carte", price: 40, capacity: None },
        ];
        assert_eq!(chosen_offer(OFFERS, 0, 3), None);
        assert_eq!(chosen_offer(OFFERS, one + 1, 20), Some(0), "the dearest affordable one");
        assert_eq!(chosen_offer(OFFERS, one + 1, 45), Some(1), "the wished one");
        assert_eq!(chosen_offer(OFFERS, 0, 100), Some(0));
    }

    #[test]
    fn slugs_are_plain_file_names() {
        assert_eq!(slug("Vélo en Ville"), "velo-en-ville");
        assert_eq!(slug("MJC (Maison des Jeunes et de la Culture)"), "mjc-maison-des-jeunes-et-de-la-culture");
    }
}
