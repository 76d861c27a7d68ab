//! The association's pages in a real browser (headless Chromium), once on a PC and once on a
//! phone: the association logs in with its token, imports its key file, certifies one action for
//! a citizen by their code, then the same action for a batch of 3 codes (each signed in the
//! browser with WebCrypto); the API shows the tokens. It then revokes a certification and
//! publishes a mission with the pages' forms. axe-core checks every page on the way (0
//! violations), and each page is kept as a screenshot in `target/browser-artifacts/`.

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l_association_certifie_des_actions_sur_un_pc() {
    association_journey(PC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l_association_certifie_des_actions_sur_un_telephone() {
    association_journey(PHONE).await;
}

async fn association_journey(width: u32) {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    let (association, _, citizen) = app.territory(1_000).await;
    let others = [app.register_citizen().await, app.register_citizen().await];
    let code = app.citizen_code(&citizen).await;

    let Some(browser) = Browser::open(&app, width).await else { return };
    browser.log_in(&association.token, "/association").await;
    browser
        .wait_until("the notice that this browser has no key", "return !document.getElementById('sans-cle').hidden;")
        .await;
    assert!(browser.text("[data-testid=solde-enveloppe]").await.ends_with("jetons"));
    browser.look_at("association").await;

    // The key file, read by this browser and kept in it.
    let key_dir = tempfile::tempdir().expect("temp dir");
    let key_file = key_dir.path().join("association.json");
    ygor_crypto::write_key_file(&key_file, &association.key).expect("key file");
    browser.goto("/association/cle").await;
    assert_eq!(browser.text("h1").await, "Clé de l'association");
    browser.look_at("association-cle").await;
    browser.import_key_file(&key_file).await;

    // One action: 12 km by bike for the citizen whose code is typed in lower case.
    browser.goto("/association").await;
    browser.wait_until("the key found", "return document.getElementById('sans-cle').hidden;").await;
    // A code that names nobody is said next to the field.
    browser.fill("code", "ZZZZ-ZZZZ").await;
    browser.click_button("Certifier").await;
    browser
        .wait_until(
            "the code refused",
            "return document.getElementById('code').getAttribute('aria-invalid') === 'true';",
        )
        .await;
    assert!(browser.text("#code-erreur").await.contains("Aucun citoyen n'a ce code"));
    browser.look_at("association-code-inconnu").await;
    browser.fill("code", &code.to_lowercase()).await;
    browser.select("category", "Vélo (par km)").await;
    browser.fill("quantity", "12").await;
    browser.click_button("Certifier").await;
    browser
        .wait_until(
            "the certification's answer",
            "return document.querySelector('[data-testid=resultat]').textContent.includes('Action certifiée');",
        )
        .await;
    assert!(browser.text("[data-testid=resultat]").await.contains("12 jetons"));
    assert!(browser.execute("return document.getElementById('code').getAttribute('aria-invalid');").await.is_null());
    browser.look_at("association-certifiee").await;
    assert_eq!(app.balance(&citizen).await, 12, "the API shows the tokens");
    // The envelope's figures follow without a reload.
    assert_eq!(browser.text("[data-testid=solde-enveloppe]").await, "988 jetons");
    assert_eq!(browser.text("[data-testid=emis-ce-mois]").await, "12 jetons");
    assert_eq!(browser.text("[data-testid=certifiees-ce-mois]").await, "1 action certifiée");

    // A batch after an event: 3 codes, one per line or separated by spaces.
    let mut codes = vec![code.clone()];
    for other in &others {
        codes.push(app.citizen_code(other).await);
    }
    browser.fill("codes", &format!("{}\n{} {}", codes[0], codes[1], codes[2])).await;
    browser.select("lot-category", "Écologie").await;
    browser.click_button("Certifier le lot").await;
    browser
        .wait_until(
            "the batch's answer",
            "return document.querySelector('[data-testid=lot-resultat]').textContent.includes('sur 3');",
        )
        .await;
    assert_eq!(browser.text("[data-testid=lot-resultat]").await, "3 actions certifiées sur 3.");
    let table = browser.text("[data-testid=lot-lignes]").await;
    assert_eq!(table.matches("Certifiée").count(), 3, "{table}");
    browser.look_at("association-lot").await;
    assert_eq!(app.balance(&citizen).await, 22);
    assert_eq!(browser.text("[data-testid=certifiees-ce-mois]").await, "4 actions certifiées");
    for other in &others {
        assert_eq!(app.balance(other).await, 10);
    }

    // The certifications, newest first; a revocation needs its reason.
    browser.goto("/association/certifications").await;
    assert_eq!(browser.execute("return document.querySelectorAll('[data-testid=certification]').length;").await, 4);
    browser.look_at("association-certifications").await;
    browser.find("details.revoke > summary").await.click().await.expect("open the revocation form");
    browser.find("[data-testid=revoquer]").await.click().await.expect("click « Révoquer »");
    browser.wait_until("the reason asked", "return document.body.innerText.includes('Indiquez le motif');").await;
    browser.look_at("association-motif-manquant").await;
    let field = browser
        .execute("return document.querySelector('input[aria-invalid=true][name=reason]').id;")
        .await
        .as_str()
        .expect("the invalid reason field")
        .to_owned();
    browser.fill(&field, "Erreur de saisie").await;
    browser.execute(&format!("document.getElementById('{field}').form.requestSubmit(); return null;")).await;
    browser.wait_until("the revocation", "return document.body.innerText.includes('Certification révoquée');").await;
    browser.look_at("association-revoquee").await;

    // A mission, published with the form.
    browser.goto("/association/missions").await;
    browser.look_at("association-missions").await;
    browser.fill("title", "Nettoyage des berges").await;
    browser.execute("document.querySelector('input[name=categories][value=ecologie]').click(); return null;").await;
    let today = chrono::Utc::now().date_naive();
    let day = |date: chrono::NaiveDate| date.format("%Y-%m-%d").to_string();
    browser
        .execute(&format!(
            "document.getElementById('starts').value = '{}'; document.getElementById('ends').value = '{}'; return null;",
            day(today),
            day(today + chrono::Duration::days(7))
        ))
        .await;
    browser.click_button("Publier la mission").await;
    browser.wait_until("the mission published", "return document.body.innerText.includes('Mission publiée');").await;
    assert!(browser.text("[data-testid=missions]").await.contains("Nettoyage des berges"));
    browser.look_at("association-missions-publiee").await;
}
