//! Every page on the demo territory (`ygor demo`), as its users see it, in a real browser on a PC
//! and on a phone: the public pages, the collectivity's, an association's, a venue's and a
//! citizen's, logged in with the tokens the demo prints. Each page must show a living town (its
//! tables and charts filled), pass axe-core with 0 violations, load nothing from another host, and
//! is kept as a screenshot in `target/browser-artifacts/demo-*.png`.

use ygor_api::setup::Config;

use crate::browser::{Browser, PC, PHONE};
use crate::cli::ygor;
use crate::demo::Examples;
use crate::helpers::{TestApp, start_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_town_is_alive_on_every_page_on_a_pc_and_a_phone() {
    let directory = tempfile::tempdir().expect("temp dir");
    let data_dir = directory.path().join("demo-data");
    let data_dir_text = data_dir.to_str().expect("utf-8 path");
    let (ok, printed, stderr) = ygor(&["demo", "--data-dir", data_dir_text, "--citizens", "300", "--seed", "5"], None);
    assert!(ok, "ygor demo failed: {stderr}");
    let tokens = Examples::read(&printed).variables;
    let config = Config { admin_token: Some(tokens["ADMIN"].clone()), ..Config::new(data_dir, None) };
    let app = start_on(config).await;
    for width in [PC, PHONE] {
        let Some(browser) = Browser::open(&app, width).await else { return };
        tour(&app, &browser, &tokens).await;
    }
}

/// Opens `path`, looks at it ([`Browser::look_at`], as `demo-<name>`), and answers the text of
/// the page's `main`.
async fn look_at(browser: &Browser, path: &str, name: &str) -> String {
    browser.goto(path).await;
    browser.look_at(&format!("demo-{name}")).await;
    browser.text("main").await
}

/// How many elements match `selector` on the page.
async fn count(browser: &Browser, selector: &str) -> u64 {
    let script = format!("return document.querySelectorAll({selector:?}).length;");
    browser.execute(&script).await.as_u64().expect("a count")
}

async fn tour(app: &TestApp, browser: &Browser, tokens: &std::collections::HashMap<String, String>) {
    let _ = app;
    // Anyone.
    look_at(browser, "/offres", "offres").await;
    assert!(count(browser, "ul[aria-label=Offres] > li").await >= 10, "the venues' offers");
    let text = look_at(browser, "/transparence", "transparence").await;
    assert!(text.contains("équilibré"), "{text}");
    assert!(count(browser, "[data-testid=par-mois] tbody tr").await >= 10, "a year of months");
    look_at(browser, "/tirages", "tirages").await;
    assert!(count(browser, "main ul.list > li").await >= 2, "the two draws");

    // The collectivity.
    browser.log_in(&tokens["ADMIN"], "/collectivite").await;
    look_at(browser, "/collectivite", "collectivite").await;
    assert!(count(browser, "[data-testid=participation] tbody tr").await >= 10);
    assert!(count(browser, "[data-testid=sous-consommes] tbody tr").await >= 1, "the under-consumed services");
    for by in ["category", "association", "neighbourhood", "age_band"] {
        look_at(browser, &format!("/collectivite?par={by}"), &format!("collectivite-{by}")).await;
        assert!(count(browser, "[data-testid=participation] tbody tr").await >= 3, "{by}");
    }
    look_at(browser, "/collectivite/partenaires", "partenaires").await;
    assert!(count(browser, "[data-testid=partenaire]").await >= 40, "31 associations and 15 venues");
    look_at(browser, "/collectivite/remboursements", "remboursements").await;
    look_at(browser, "/collectivite/tirages", "collectivite-tirages").await;
    look_at(browser, "/collectivite/cartes", "cartes").await;
    let text = look_at(browser, "/collectivite/regles", "regles").await;
    assert!(text.contains("Durée de vie des jetons"), "{text}");
    assert!(count(browser, "[data-testid=versions] tbody tr").await >= 2, "the first rules and the winter change");
    look_at(browser, "/collectivite/audit", "audit").await;
    let text = look_at(browser, "/collectivite/audit?position=2", "audit-preuve").await;
    assert!(text.contains("Preuve valable"), "{text}");

    // An association.
    browser.log_in(&tokens["ASSO"], "/association").await;
    look_at(browser, "/association", "association").await;
    look_at(browser, "/association/certifications", "association-certifications").await;
    assert!(count(browser, "[data-testid=certification]").await >= 10, "a year of certifications");
    look_at(browser, "/association/missions", "association-missions").await;
    look_at(browser, "/association/cle", "association-cle").await;

    // A venue.
    browser.log_in(&tokens["VENUE"], "/guichet").await;
    look_at(browser, "/guichet", "guichet").await;
    look_at(browser, "/guichet/historique", "guichet-historique").await;
    assert!(count(browser, "[data-testid=plus-tot] tbody tr").await >= 5, "a year of redemptions");
    look_at(browser, "/guichet/offres", "guichet-offres").await;

    // A citizen.
    browser.log_in(&tokens["CITIZEN"], "/moi").await;
    look_at(browser, "/moi", "moi").await;
    let text = look_at(browser, "/moi/profil", "profil").await;
    assert!(text.contains("Mes badges") && !text.contains("Pas encore de badge"), "the most decorated citizen: {text}");
    look_at(browser, "/moi/missions", "missions").await;
    look_at(browser, "/moi/historique", "historique").await;
    look_at(browser, "/moi/preuves", "preuves").await;
    look_at(browser, "/tirages", "tirages-citoyen").await;
}
