//! The journey across the collectivity's and the association's pages, in a real browser
//! (headless Chromium), once on a PC and once on a phone: the clerk publishes the rules from a
//! file, registers an association with its public key and allocates its envelope, registers
//! ten citizens and prints their cards on one A4 sheet; the association logs in with the token the page showed once,
//! imports its key, certifies an action for a citizen by code, then a batch of 3; the clerk's
//! dashboard then shows the new actions, the audit page proves the last one, and the public
//! transparency page shows the checkpoint that covers them. axe-core checks every page (0
//! violations), and each page is kept as a screenshot in `target/browser-artifacts/`.

use reqwest::StatusCode;

use crate::browser::{Browser, PC, PHONE};
use crate::helpers::{RULES, TestApp, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_collectivite_et_une_association_sur_un_pc() {
    journey(PC).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn la_collectivite_et_une_association_sur_un_telephone() {
    journey(PHONE).await;
}

/// The number of events the checkpoint signed now covers.
async fn tree_size(app: &TestApp) -> u64 {
    let latest = app.latest().await;
    let checkpoint = app.get(&format!("/v1/audit/checkpoint?min_position={latest}"), &app.admin_token).await;
    checkpoint.expect(StatusCode::OK)["tree_size"].as_u64().expect("tree_size")
}

async fn journey(width: u32) {
    let app = spawn_app(crate::helpers::Backend::Sqlite).await;
    app.mint(100_000).await.expect(StatusCode::OK);
    let files = tempfile::tempdir().expect("temp dir");
    let Some(browser) = Browser::open(&app, width).await else { return };
    browser.log_in(&app.admin_token, "/collectivite").await;

    // The rules, from the file the clerk wrote.
    let rules_file = files.path().join("regles.toml");
    std::fs::write(&rules_file, format!("{RULES}\n[settlement]\ntoken_value_cents = 50\n")).expect("rules file");
    browser.goto("/collectivite/regles").await;
    browser.look_at("regles-vide").await;
    // A typo first: refused, said at its line.
    let typo_file = files.path().join("regles-faute.toml");
    std::fs::write(&typo_file, RULES.replace("tokens_per_action = 10", "tokens_per_acton = 10")).expect("rules file");
    browser.field("fichier").await.send_keys(typo_file.to_str().expect("utf-8 path")).await.expect("choose file");
    browser.click_button("Publier ces règles").await;
    browser.wait_until("the refusal", "return !!document.querySelector('[data-testid=erreur-regles]');").await;
    assert!(browser.text("[data-testid=erreur-regles]").await.contains("tokens_per_acton"));
    browser.look_at("regles-erreur").await;
    browser.goto("/collectivite/regles").await;
    browser.field("fichier").await.send_keys(rules_file.to_str().expect("utf-8 path")).await.expect("choose file");
    browser.click_button("Publier ces règles").await;
    browser.wait_until("the rules published", "return location.search === '?publiee=1';").await;
    assert!(browser.text("[data-testid=categories]").await.contains("Écologie"));
    browser.look_at("regles").await;

    // The association, registered with its public key; its token is shown once.
    let key = ygor_crypto::SecretKey::generate();
    let key_file = files.path().join("association.json");
    ygor_crypto::write_key_file(&key_file, &key).expect("key file");
    browser.goto("/collectivite/partenaires").await;
    browser.fill("name", "Les Jardins partagés").await;
    browser.fill("public_key", &key.public_key().to_string()).await;
    browser.click_button("Inscrire le partenaire").await;
    browser.wait_until("the token", "return !!document.querySelector('[data-testid=jeton]');").await;
    let token = browser.text("[data-testid=jeton]").await;
    browser.look_at("partenaire-inscrit").await;

    // Its envelope: 500 tokens.
    browser.goto("/collectivite/partenaires").await;
    let id = browser
        .execute("return document.querySelector('[data-testid=associations] tr[data-partner-id]').dataset.partnerId;")
        .await
        .as_str()
        .expect("the association's row")
        .to_owned();
    let row = format!("tr[data-partner-id='{id}']");
    browser.find(&format!("{row} details > summary")).await.click().await.expect("open the allocation form");
    browser.fill(&format!("montant-{id}"), "500").await;
    browser.find(&format!("{row} [data-testid=allouer]")).await.click().await.expect("click « Allouer »");
    browser.wait_until("the allocation", "return document.body.innerText.includes('500 jetons alloués');").await;
    browser.look_at("partenaires").await;

    // Three citizens, on one sheet of cards.
    browser.goto("/collectivite/cartes").await;
    browser.look_at("cartes").await;
    browser.fill("count", "10").await;
    browser.click_button("Inscrire et imprimer la planche").await;
    browser
        .wait_until("the sheet", "return document.querySelectorAll('[data-testid=carte] .qr-login svg').length === 10;")
        .await;
    let mut codes: Vec<String> = browser
        .execute("return [...document.querySelectorAll('[data-testid=code]')].map((code) => code.textContent);")
        .await
        .as_array()
        .expect("codes")
        .iter()
        .map(|code| code.as_str().expect("a code").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    browser.look_at("planche").await;
    if width == PC {
        // Printed on A4 at 100 %, the 10 cards fit one sheet.
        let config = fantoccini::wd::PrintConfiguration::builder().shrink_to_fit(false).build().expect("A4");
        let pdf = browser.client().print(config).await.expect("print the sheet");
        let pages = pdf.windows(11).filter(|bytes| bytes == b"/Type /Page").count()
            - pdf.windows(12).filter(|bytes| bytes == b"/Type /Pages").count();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts/planche.pdf");
        std::fs::write(&path, &pdf).expect("keep the PDF");
        assert_eq!(pages, 1, "one A4 sheet: {}", path.display());
    }
    codes.truncate(3);
    let before = tree_size(&app).await;

    // The association: logged in with the token the page showed, its key imported.
    browser.log_in(&token, "/association").await;
    browser.goto("/association/cle").await;
    browser.import_key_file(&key_file).await;
    browser.goto("/association").await;
    browser.wait_until("the key found", "return document.getElementById('sans-cle').hidden;").await;
    assert_eq!(browser.text("[data-testid=solde-enveloppe]").await, "500 jetons");
    // The card's login QR code scanned by mistake: a link, refused here and never sent.
    browser.fill("code", &format!("{}/connexion/lien/ygor_lien_secret", browser.base())).await;
    browser.click_button("Certifier").await;
    browser
        .wait_until(
            "the link refused",
            "return document.getElementById('code-erreur').textContent.includes('sert au citoyen à se connecter');",
        )
        .await;
    assert_eq!(browser.execute("return document.getElementById('code').value;").await, "");
    browser.fill("code", &codes[0]).await;
    browser.select("category", "Écologie").await;
    browser.click_button("Certifier").await;
    browser
        .wait_until(
            "the certification",
            "return document.querySelector('[data-testid=resultat]').textContent.includes('Action certifiée');",
        )
        .await;
    assert_eq!(browser.text("[data-testid=solde-enveloppe]").await, "490 jetons");
    browser.fill("codes", &codes.join("\n")).await;
    browser.select("lot-category", "Écologie").await;
    browser.click_button("Certifier le lot").await;
    browser
        .wait_until(
            "the batch",
            "return document.querySelector('[data-testid=lot-resultat]').textContent.includes('sur 3');",
        )
        .await;
    assert_eq!(browser.text("[data-testid=lot-resultat]").await, "3 actions certifiées sur 3.");
    assert_eq!(browser.text("[data-testid=solde-enveloppe]").await, "460 jetons");
    assert_eq!(browser.text("[data-testid=certifiees-ce-mois]").await, "4 actions certifiées");
    browser.look_at("association-lot").await;
    browser.goto("/association/certifications").await;
    assert!(browser.text("[data-testid=certifications]").await.contains(&codes[0]), "the list names codes");
    browser.look_at("association-certifications-codes").await;

    // The clerk's dashboard shows the 4 actions of 3 citizens.
    browser.log_in(&app.admin_token, "/collectivite").await;
    browser.goto("/collectivite?par=category").await;
    let rows = browser
        .execute(
            "return [...document.querySelectorAll('[data-testid=participation] tbody tr')]\
             .map((row) => [...row.children].map((cell) => cell.textContent.trim()).join('|'));",
        )
        .await;
    let rows: Vec<&str> = rows.as_array().expect("rows").iter().filter_map(|row| row.as_str()).collect();
    assert!(rows.iter().any(|row| row.starts_with("Écologie|4|3|40")), "4 actions by 3 citizens: {rows:?}");
    browser.look_at("collectivite-apres").await;
    let after = tree_size(&app).await;
    assert!(after >= before + 4, "the log grew by the certifications: {before} → {after}");
    browser.goto(&format!("/collectivite/audit?position={after}")).await;
    assert!(browser.text("[data-testid=preuve]").await.contains("Preuve valable"));
    browser.look_at("audit-preuve").await;

    // The public page shows the checkpoint that covers them.
    browser.goto("/transparence").await;
    let checkpoint = browser.text("[data-testid=checkpoint]").await;
    let shown: u64 = checkpoint
        .split("compte ")
        .nth(1)
        .and_then(|rest| rest.split(" événement").next())
        .map(|number| number.replace(['\u{202f}', ' '], ""))
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("a size in {checkpoint}"));
    assert!(shown >= after, "the transparency page's checkpoint covers the new actions: {shown} < {after}");
    browser.look_at("transparence-apres").await;
}
