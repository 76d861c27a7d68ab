//! The territory's calendar: the big days certified in bulk by their association, the bike
//! challenge in July, the missions the associations publish, and the two draws among gold tokens.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc};
use ygor_ledger::{DrawId, MissionId};

use super::{Action, DrawPlan, MissionPlan, Plan};
use crate::random::{Part, Random};
use crate::territory::{
    ASSOCIATIONS, CITOYENNETE, CULTURE, ECOLOGIE, SOLIDARITE, TRANSMISSION, VELO, association_index, simulated_july,
};

/// The big days of the year, each certified in bulk by its association.
pub(super) fn plan_events(plan: &mut Plan, seed: u64) {
    struct Event {
        dates: Vec<NaiveDate>,
        association: &'static str,
        categories: &'static [(&'static str, f64)],
        base: f64,
    }
    let events = [
        // Spring cleanups of the river banks.
        Event {
            dates: plan.saturdays(4, &[1, 3]),
            association: "Les Amis des Berges",
            categories: &[(ECOLOGIE, 1.0)],
            base: 0.015,
        },
        // The music festival: cooking, stands, welcoming the artists.
        Event {
            dates: [plan.dates(6, 20), plan.dates(6, 21)].concat(),
            association: "Comité du festival de musique",
            categories: &[(CULTURE, 0.7), (SOLIDARITE, 0.3)],
            base: 0.02,
        },
        Event {
            dates: plan.saturdays(8, &[2]),
            association: "Patrimoine et paysages du Val de Saône",
            categories: &[(CULTURE, 0.7), (ECOLOGIE, 0.3)],
            base: 0.012,
        },
        Event {
            dates: plan.saturdays(9, &[1]),
            association: "Forum des associations",
            categories: &[(CITOYENNETE, 1.0)],
            base: 0.015,
        },
        Event {
            dates: plan.saturdays(9, &[3]),
            association: "Collectif Zéro Déchet",
            categories: &[(ECOLOGIE, 1.0)],
            base: 0.015,
        },
        Event {
            dates: plan.saturdays(10, &[2]),
            association: "Comité citoyen du budget participatif",
            categories: &[(CITOYENNETE, 1.0)],
            base: 0.012,
        },
        // Winter food collections.
        Event {
            dates: [plan.saturdays(12, &[1, 2]), plan.saturdays(1, &[4])].concat(),
            association: "Garde-manger solidaire",
            categories: &[(SOLIDARITE, 1.0)],
            base: 0.015,
        },
    ];
    let mut random = Random::new(seed, Part::Events, 0);
    for event in &events {
        let association = association_index(event.association);
        let place = ASSOCIATIONS[association].neighbourhood;
        let shares: Vec<f64> = event.categories.iter().map(|(_, share)| *share).collect();
        for date in &event.dates {
            let Some(day) = plan.day(*date) else { continue };
            for index in 0..plan.citizens.len() {
                let citizen = &plan.citizens[index];
                if citizen.registration_day >= day {
                    continue;
                }
                let interested = event.categories.iter().any(|(category, _)| citizen.interests.contains(category));
                let local = if place == Some(citizen.neighbourhood) { 2.0 } else { 1.0 };
                let probability =
                    event.base * if interested { 3.0 } else { 1.0 } * citizen.level.event_factor() * local;
                if random.chance(probability) {
                    let category = event.categories[random.weighted(&shares)].0;
                    let action = Action { citizen: index, association, category, quantity: 1, day, hours: (9, 17) };
                    plan.add_certification(&mut random, action);
                }
            }
        }
    }
}

/// "Défi : plus de 50 km à vélo en juillet": rides logged through July.
pub(super) fn plan_bike_challenge(plan: &mut Plan, seed: u64) {
    let july = simulated_july(plan.end);
    let first = NaiveDate::from_ymd_opt(july, 7, 1).expect("July the first exists");
    let (Some(first_day), Some(last_day)) = (plan.day(first), plan.day(first + TimeDelta::days(30))) else {
        return;
    };
    let mut random = Random::new(seed, Part::Events, 1);
    let velo_en_ville = association_index("Vélo en Ville");
    let atelier = association_index("Atelier vélo solidaire du Quartier Nord");
    for index in 0..plan.citizens.len() {
        let citizen = &plan.citizens[index];
        if citizen.registration_day + 1 > last_day {
            continue;
        }
        let interested = if citizen.interests.contains(&VELO) { 3.0 } else { 1.0 };
        let age = if citizen.age <= 25 {
            1.5
        } else if citizen.age >= 65 {
            0.4
        } else {
            1.0
        };
        if !random.chance(0.04 * interested * age * citizen.level.event_factor()) {
            continue;
        }
        let from = first_day.max(citizen.registration_day + 1);
        for _ in 0..random.between(3, 9) {
            let day = random.between(from as i64, last_day as i64) as usize;
            let association = if random.chance(0.8) { velo_en_ville } else { atelier };
            let kilometres = random.between(4, 20) as u64;
            let action =
                Action { citizen: index, association, category: VELO, quantity: kilometres, day, hours: (7, 20) };
            plan.add_certification(&mut random, action);
        }
    }
}

/// A mission before it is scheduled: association, title, categories, neighbourhood, start, end.
type MissionDraft = (&'static str, String, Vec<&'static str>, Option<&'static str>, DateTime<Utc>, DateTime<Utc>);

/// The missions of `territory.md`, at their season, and one mission of each generated
/// association. Past missions are closed the day after they end; some are still open at the end.
pub(super) fn plan_missions(plan: &mut Plan, seed: u64) {
    let mut random = Random::new(seed, Part::Missions, 0);
    let first_at = |plan: &Plan, dates: Vec<NaiveDate>| {
        dates.first().map(|date| plan.time(plan.day(*date).expect("inside"), 9, 0, 0))
    };
    let july = simulated_july(plan.end);
    let at = |year: i32, month: u32, day: u32| {
        Utc.with_ymd_and_hms(year, month, day, 9, 0, 0).single().expect("a valid mission date")
    };
    // The next winter's collection: the one that starts after the end of the simulated year.
    let next_winter = if plan.end.month() == 12 { plan.end.year() + 1 } else { plan.end.year() };
    let mut missions: Vec<MissionDraft> = Vec::new();
    let mut seasonal = |association: &'static str,
                        title: String,
                        categories: Vec<&'static str>,
                        neighbourhood: Option<&'static str>,
                        starts_at: Option<DateTime<Utc>>,
                        days: i64| {
        if let Some(starts_at) = starts_at {
            missions.push((
                association,
                title,
                categories,
                neighbourhood,
                starts_at,
                starts_at + TimeDelta::days(days),
            ));
        }
    };
    seasonal(
        "Les Amis des Berges",
        "Nettoyage des berges de la Saône".to_owned(),
        vec![ECOLOGIE],
        Some("Les Rives"),
        first_at(plan, plan.saturdays(4, &[1])),
        15,
    );
    seasonal(
        "Comité du festival de musique",
        "Bénévoles pour le festival de musique : préparer à manger, tenir les stands, accueillir les artistes (30 minutes, 1 h ou toute la journée)".to_owned(),
        vec![CULTURE, SOLIDARITE],
        None,
        first_at(plan, plan.dates(6, 20)),
        2,
    );
    seasonal(
        "Ferme urbaine de Plaisance",
        "Installer une ferme urbaine co-gérée par les habitants du quartier Plaisance".to_owned(),
        vec![ECOLOGIE, CITOYENNETE],
        Some("Plaisance"),
        first_at(plan, plan.dates(3, 15)),
        200,
    );
    seasonal(
        "Forum des associations",
        "Connecter les acteurs de la vie associative lors du forum".to_owned(),
        vec![CITOYENNETE],
        None,
        first_at(plan, plan.saturdays(9, &[1])),
        1,
    );
    seasonal(
        "Patrimoine et paysages du Val de Saône",
        "Mettre en place les « Jeux de notre territoire » pour valoriser le patrimoine et les paysages".to_owned(),
        vec![CULTURE, ECOLOGIE],
        None,
        first_at(plan, plan.saturdays(8, &[2])).map(|day| day - TimeDelta::days(30)),
        31,
    );
    seasonal(
        "Garde-manger solidaire",
        format!(
            "Garde-manger solidaire : collecte de denrées non périssables (hiver {}-{})",
            next_winter - 1,
            next_winter
        ),
        vec![SOLIDARITE],
        None,
        first_at(plan, plan.dates(12, 1)).filter(|starts_at| starts_at.year() == next_winter - 1),
        62,
    );
    seasonal(
        "Garde-manger solidaire",
        format!(
            "Garde-manger solidaire : collecte de denrées non périssables (hiver {}-{})",
            next_winter,
            next_winter + 1
        ),
        vec![SOLIDARITE],
        None,
        Some(at(next_winter, 12, 1)),
        62,
    );
    seasonal(
        "Club de lecture intergénérationnel",
        "Atelier d'écriture à la médiathèque".to_owned(),
        vec![CULTURE, TRANSMISSION],
        Some("Centre"),
        Some(plan.time(30.min(plan.days.len() - 1), 9, 0, 0)),
        540,
    );
    seasonal(
        "Vélo en Ville",
        "Défi : plus de 50 km à vélo en juillet".to_owned(),
        vec![VELO],
        None,
        Some(at(july, 7, 1)),
        31,
    );
    for spec in ASSOCIATIONS {
        let Some(title) = spec.mission else { continue };
        let day = random.between(14, plan.days.len() as i64 + 60);
        let starts_at = plan.start + TimeDelta::days(day) + TimeDelta::hours(random.between(9, 18));
        let mut categories: Vec<&'static str> = spec.categories.iter().map(|(category, _)| *category).collect();
        categories.truncate(2);
        let days = random.between(1, 90);
        missions.push((
            spec.name,
            title.to_owned(),
            categories,
            spec.neighbourhood,
            starts_at,
            starts_at + TimeDelta::days(days),
        ));
    }
    for (association, title, categories, neighbourhood, starts_at, ends_at) in missions {
        let published_at = (starts_at - TimeDelta::days(21)).max(plan.start + TimeDelta::hours(9)).min(plan.end);
        let closed_at = Some(ends_at + TimeDelta::days(1))
            .filter(|closed_at| *closed_at <= plan.end)
            .map(|closed_at| closed_at.max(published_at));
        let index = plan.missions.len();
        let published_day = plan.day(published_at.date_naive()).expect("published inside the year");
        plan.days[published_day].missions_published.push(index);
        if let Some(closed_at) = closed_at {
            let closed_day = plan.day(closed_at.date_naive()).expect("closed inside the year");
            plan.days[closed_day].missions_closed.push(index);
        }
        plan.missions.push(MissionPlan {
            id: MissionId::from_uuid(random.uuid()),
            association: association_index(association),
            title,
            categories,
            neighbourhood,
            starts_at,
            ends_at,
            published_at,
            closed_at,
        });
    }
}

/// Two draws among the gold tokens: a yearly pass for the pool, drawn in the middle of the year,
/// and seats at the big match, still open at the end.
pub(super) fn plan_draws(plan: &mut Plan, seed: u64) {
    let mut random = Random::new(seed, Part::Draws, 0);
    let days = plan.days.len();
    let pool_closes = days * 8 / 12;
    let draws = [
        (
            "Pass annuel de la piscine municipale",
            3,
            plan.time(days * 4 / 12, 10, 0, 0),
            plan.time(pool_closes - 3, 12, 0, 0),
            plan.time(pool_closes, 18, 0, 0),
            Some(plan.time(pool_closes + 1, 9, 0, 0)),
        ),
        (
            "Places pour le grand match de la saison au stade",
            10,
            plan.time(days * 9 / 12, 10, 0, 0),
            plan.time(days - 2, 12, 0, 0),
            plan.end + TimeDelta::days(21),
            None,
        ),
    ];
    for (prize, winners, created_at, entries_at, closes_at, closed_at) in draws {
        let index = plan.draws.len();
        let day = |at: DateTime<Utc>| plan.day(at.date_naive()).expect("draw steps inside the year");
        let (created, entered) = (day(created_at), day(entries_at));
        let closed = closed_at.map(day);
        plan.days[created].draws_created.push(index);
        plan.days[entered].draws_entered.push(index);
        if let Some(closed) = closed {
            plan.days[closed].draws_closed.push(index);
        }
        let id = DrawId::from_uuid(random.uuid());
        plan.draws.push(DrawPlan { id, prize, winners, created_at, entries_at, closes_at, closed_at });
    }
}
