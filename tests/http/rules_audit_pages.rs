//! The collectivity's rules, audit and card-sheet pages over real HTTP (a real SQLite store): a
//! rules file refused with its error at its line and nothing published, a file then a pasted text
//! published as versions with their history; the inclusion proof of a position checked on the
//! page; sheets of new and reprinted cards, all or nothing.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, RULES, spawn_app};
use crate::web_client::WebClient;

/// How many versions of the rules the API lists.
async fn versions(app: &crate::helpers::TestApp) -> usize {
    let answer = app.get("/v1/rules/versions", &app.admin_token).await.expect(StatusCode::OK);
    answer["versions"].as_array().expect("versions").len()
}

#[tokio::test]
async fn rules_are_published_from_a_file_or_a_text_and_refused_at_their_line() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut clerk = WebClient::new(&app);
    assert_eq!(clerk.log_in_with_token(&app.admin_token).await, "/collectivite");
    let empty = clerk.get("/collectivite/regles").await;
    empty.assert_page();
    assert!(empty.html.contains("data-testid=\"sans-regles\""));
    let csrf = empty.csrf();

    // A typo on line 11 of the file: said at its line, with the lines around it; nothing published.
    let typo = RULES.replace("tokens_per_action = 10", "tokens_per_acton = 10");
    let line = typo.lines().position(|text| text.contains("tokens_per_acton")).expect("the typo") + 1;
    let refused = clerk
        .post_multipart(
            "/collectivite/regles",
            &[("csrf", &csrf), ("texte", "")],
            ("fichier", "regles.toml", typo.as_bytes()),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
    assert!(refused.html.contains(&format!("l'erreur est à la ligne {line}")), "{}", refused.html);
    assert!(refused.html.contains(&format!("Ligne {line} : ")), "{}", refused.html);
    assert!(refused.html.contains("tokens_per_acton"), "the message names the key");
    assert!(
        refused.html.contains(&format!(
            r#"<span class="excerpt__line excerpt__line--error"><span class="excerpt__number">{line}</span> tokens_per_acton = 10</span>"#
        )),
        "the faulty line is marked in the excerpt: {}",
        refused.html
    );
    assert!(refused.html.contains("aria-invalid=\"true\" aria-describedby=\"texte-erreur\""));
    assert_eq!(versions(&app).await, 0, "nothing was published");

    // A file that is not UTF-8, and an empty form: refused, nothing published.
    let latin1 = clerk
        .post_multipart(
            "/collectivite/regles",
            &[("csrf", &csrf)],
            ("fichier", "regles.toml", b"label = \"\xE9cologie\""),
        )
        .await;
    assert_eq!(latin1.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(latin1.html.contains("n'est pas un texte UTF-8"));
    let nothing =
        clerk.post_multipart("/collectivite/regles", &[("csrf", &csrf), ("texte", " ")], ("fichier", "", b"")).await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(nothing.html.contains("Choisissez un fichier de règles"));
    // Without the CSRF field: refused before anything is read.
    let forged = clerk.post_multipart("/collectivite/regles", &[], ("fichier", "regles.toml", RULES.as_bytes())).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(versions(&app).await, 0);

    // The file, then: version 1, said readably.
    let published = clerk
        .post_multipart(
            "/collectivite/regles",
            &[("csrf", &csrf), ("texte", "")],
            ("fichier", "regles.toml", RULES.as_bytes()),
        )
        .await;
    assert_eq!(published.status, StatusCode::SEE_OTHER, "{}", published.html);
    assert_eq!(published.location(), "/collectivite/regles?publiee=1");
    assert_eq!(versions(&app).await, 1);
    let page = clerk.get(published.location()).await;
    page.assert_page();
    assert!(page.html.contains("Version 1 des règles publiée"));
    assert!(page.html.contains("Durée de vie des jetons</dt><dd>6 mois"), "{}", page.html);
    assert!(page.html.contains("<td>10 jetons par action</td><td>100 jetons par mois</td>"), "{}", page.html);
    assert!(page.html.contains("<td>1 jeton par unité</td><td>30 jetons par mois</td>"), "{}", page.html);
    let field = &page.html[page.html.find("id=\"texte\"").expect("the text field")..];
    assert!(
        field[..field.find("</textarea>").expect("its end")].contains("[[categories]]"),
        "the text in force is in the field"
    );

    // The same text pasted: nothing new. A changed cap pasted: version 2, and the history.
    let same =
        clerk.post_multipart("/collectivite/regles", &[("csrf", &csrf), ("texte", RULES)], ("fichier", "", b"")).await;
    assert_eq!(same.location(), "/collectivite/regles?identique=1");
    let changed = RULES.replace("cap_per_citizen_per_month = 30", "cap_per_citizen_per_month = 40");
    let second = clerk
        .post_multipart("/collectivite/regles", &[("csrf", &csrf), ("texte", &changed)], ("fichier", "", b""))
        .await;
    assert_eq!(second.location(), "/collectivite/regles?publiee=2");
    let page = clerk.get("/collectivite/regles").await;
    assert!(page.html.contains("<td>1 jeton par unité</td><td>40 jetons par mois</td>"), "{}", page.html);
    let history = &page.html[page.html.find("data-testid=\"versions\"").expect("the history")..];
    assert!(history.contains("<th scope=\"row\">2</th>") && history.contains("<th scope=\"row\">1</th>"));
    assert_eq!(history.matches("<span class=\"tag\">en vigueur</span>").count(), 1);
    assert_eq!(versions(&app).await, 2);
    let rules = app.get("/v1/rules", &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(rules["rules"]["categories"][1]["cap_per_citizen_per_month"], 40);

    // Another role is refused the page.
    let citizen = app.register_citizen().await;
    let mut other = WebClient::new(&app);
    other.log_in_with_token(&citizen.token).await;
    assert_eq!(other.get("/collectivite/regles").await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_audit_page_lists_checkpoints_and_checks_the_proof_of_a_position() {
    let app = spawn_app(Backend::Sqlite).await;
    app.territory(1_000).await;
    app.post("/v1/audit/checkpoints", &app.admin_token, json!({})).await.expect(StatusCode::CREATED);
    let latest = app.latest().await;
    let mut clerk = WebClient::new(&app);
    clerk.log_in_with_token(&app.admin_token).await;
    let page = clerk.get("/collectivite/audit").await;
    page.assert_page();
    assert!(page.html.contains("data-testid=\"points-de-controle\""), "{}", page.html);
    assert!(page.html.contains("ygor audit verify"));
    let current = app.get("/v1/audit/checkpoint", &app.admin_token).await.expect(StatusCode::OK);
    assert!(page.html.contains(current["public_key"].as_str().expect("key")));

    // The proof of the first event: three checks, all holding.
    let proof = clerk.get("/collectivite/audit?position=1").await;
    proof.assert_page();
    assert!(proof.html.contains("Événement n° 1 : RulesPublished"), "{}", proof.html);
    assert_eq!(proof.html.matches("<span class=\"tag\">vérifié</span>").count(), 3, "{}", proof.html);
    assert!(proof.html.contains("data-testid=\"preuve-valable\""));
    let api = app.get("/v1/audit/proof/1", &app.admin_token).await.expect(StatusCode::OK);
    assert!(proof.html.contains(api["leaf_hash"].as_str().expect("leaf hash")), "the API's leaf hash");

    // Positions that name no event, or are not numbers, are said next to the field.
    for (asked, said) in [
        ("0", "Indiquez une position en chiffres"),
        ("douze", "Indiquez une position en chiffres"),
        (&*format!("{}", latest + 1_000), "Aucun événement n'occupe la position"),
    ] {
        let refused = clerk.get(&format!("/collectivite/audit?position={asked}")).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{asked}");
        assert!(refused.html.contains(said), "{asked}: {}", refused.html);
        assert!(refused.html.contains("aria-describedby=\"position-erreur\""));
    }
}

#[tokio::test]
async fn sheets_of_cards_are_printed_for_new_citizens_and_for_codes() {
    let app = spawn_app(Backend::Sqlite).await;
    app.territory(1_000).await;
    let mut clerk = WebClient::new(&app);
    clerk.log_in_with_token(&app.admin_token).await;
    let csrf = clerk.get("/collectivite/cartes").await.csrf();

    // Three new citizens on one sheet, each card a registered citizen's code.
    let sheet =
        clerk.post("/collectivite/cartes/planche", &[("csrf", &csrf), ("count", "3"), ("neighbourhood", "")]).await;
    sheet.assert_page();
    assert_eq!(sheet.html.matches("data-testid=\"carte\"").count(), 3);
    assert_eq!(sheet.html.matches("data-testid=\"qr-code-citoyen\"").count(), 3, "each card has its code's QR code");
    let codes: Vec<String> = sheet
        .html
        .split("data-testid=\"code\">")
        .skip(1)
        .map(|rest| rest.split('<').next().expect("a code").to_owned())
        .collect();
    assert_eq!(codes.len(), 3);
    for code in &codes {
        let found = app.get(&format!("/v1/citizens/lookup?code={code}"), &app.admin_token).await.expect(StatusCode::OK);
        assert!(found["citizen_id"].is_string());
    }

    // Too many, or not a number: refused, nobody registered.
    let latest = app.latest().await;
    for count in ["11", "0", "dix"] {
        let refused = clerk
            .post("/collectivite/cartes/planche", &[("csrf", &csrf), ("count", count), ("neighbourhood", "")])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{count}");
        assert!(refused.html.contains("Indiquez un nombre de cartes de 1 à 10"));
    }
    assert!(app.latest().await - latest <= 1, "no citizen registered (a gold job may add one event)");

    // Two of them reprinted, in lower case and separated by a comma.
    let typed = format!("{}, {}", codes[0].to_lowercase(), codes[2]);
    let reprint = clerk.post("/collectivite/cartes", &[("csrf", &csrf), ("codes", &typed)]).await;
    reprint.assert_page();
    assert_eq!(reprint.html.matches("data-testid=\"carte\"").count(), 2);
    assert!(reprint.html.contains(&codes[0]) && reprint.html.contains(&codes[2]));
    // One unknown code among good ones: no card at all.
    let mixed =
        clerk.post("/collectivite/cartes", &[("csrf", &csrf), ("codes", &format!("{}\nZZZZ-ZZZZ", codes[1]))]).await;
    assert_eq!(mixed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        mixed.html.contains("Aucun citoyen n'a ce code : ZZZZ-ZZZZ") && !mixed.html.contains("data-testid=\"carte\""),
        "{}",
        mixed.html
    );
}
