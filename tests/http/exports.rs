//! Euros and files for the collectivity's clerks: settlements and statements valued in euros when
//! the rules say what a token is worth (and audited), statements and dashboards downloaded as CSV
//! and XLSX, and redemptions counted by venue.

use calamine::{Data, Reader, Xlsx};
use chrono::{DateTime, Datelike, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::audit::{Raw, names};
use crate::helpers::{Backend, Citizen, Partner, RULES, TestApp, spawn_app};

crate::on_both_backends!(
    settlements_are_valued_in_euros_at_the_rules_in_force_when_they_happen,
    a_statement_carries_euros_beside_every_token_figure_for_its_period,
    the_audit_finds_a_settlement_whose_euros_were_changed,
    a_statement_downloads_as_csv_and_xlsx_one_row_per_redemption,
    participation_downloads_as_csv_and_xlsx_by_age_band,
    circulation_downloads_as_csv_and_xlsx_in_one_row,
    participation_by_venue_counts_redemptions_citizens_and_tokens_in_the_period,
    an_unknown_format_or_another_venue_is_refused_before_any_file_is_made,
);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// [`RULES`] with a `[settlement]` table valuing a token at `cents` euro cents.
fn rules_with_token_value(cents: u64) -> String {
    format!("{RULES}\n[settlement]\ntoken_value_cents = {cents}\n")
}

fn position(answer: &Value) -> i64 {
    answer["position"].as_i64().expect("position")
}

async fn settle(app: &TestApp, venue: &Partner) -> Value {
    app.post("/v1/settlements", &app.admin_token, json!({ "venue_id": venue.id })).await.expect(StatusCode::OK)
}

/// A venue's redemptions in the order they were made (the list answers newest first).
async fn redemptions(app: &TestApp, venue: &Partner) -> Vec<Value> {
    let path = format!("/v1/venues/{}/redemptions?min_position={}", venue.id, app.latest().await);
    let list = app.get(&path, &app.admin_token).await.expect(StatusCode::OK);
    let mut redemptions = list["redemptions"].as_array().expect("redemptions").clone();
    redemptions.reverse();
    redemptions
}

/// A file downloaded with the admin token or another: its status, media type, disposition and bytes.
struct Download {
    status: StatusCode,
    content_type: String,
    disposition: String,
    bytes: Vec<u8>,
}

impl Download {
    #[track_caller]
    fn csv(&self, file_name: &str) -> String {
        assert_eq!(self.status, StatusCode::OK, "{}", String::from_utf8_lossy(&self.bytes));
        assert_eq!(self.content_type, "text/csv; charset=utf-8");
        assert_eq!(self.disposition, format!("attachment; filename=\"{file_name}\""));
        String::from_utf8(self.bytes.clone()).expect("UTF-8")
    }

    /// The only worksheet, `sheet`, as cells; its header row must be bold and the rest not.
    #[track_caller]
    fn xlsx(&self, file_name: &str, sheet: &str) -> Vec<Vec<Data>> {
        assert_eq!(self.status, StatusCode::OK, "{}", String::from_utf8_lossy(&self.bytes));
        assert_eq!(self.content_type, XLSX);
        assert_eq!(self.disposition, format!("attachment; filename=\"{file_name}\""));
        let mut workbook = Xlsx::new(std::io::Cursor::new(self.bytes.clone())).expect("an XLSX workbook");
        assert_eq!(workbook.sheet_names(), [sheet.to_owned()]);
        let range = workbook.worksheet_range(sheet).expect("the worksheet");
        let rows: Vec<Vec<Data>> = range.rows().map(<[Data]>::to_vec).collect();
        let styles = workbook.worksheet_style(sheet).expect("styles");
        let bold = |row: u32, column: u32| {
            styles.get((row, column)).and_then(|style| style.font.as_ref()).is_some_and(|font| font.is_bold())
        };
        for column in 0..rows[0].len() as u32 {
            assert!(bold(0, column), "the header of column {column} is bold");
            assert!(rows.len() < 2 || !bold(1, column), "data in column {column} is not bold");
        }
        rows
    }
}

async fn download(app: &TestApp, path: &str, token: &str) -> Download {
    let response = app.client.get(format!("{}{path}", app.address)).bearer_auth(token).send().await.expect("answer");
    let header = |name: reqwest::header::HeaderName| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).unwrap_or("").to_owned()
    };
    let (content_type, disposition) =
        (header(reqwest::header::CONTENT_TYPE), header(reqwest::header::CONTENT_DISPOSITION));
    let status = response.status();
    let bytes = response.bytes().await.expect("body").to_vec();
    Download { status, content_type, disposition, bytes }
}

fn text(value: &str) -> Data {
    Data::String(value.to_owned())
}

fn number(value: u64) -> Data {
    Data::Float(value as f64)
}

/// An instant of a JSON answer and a date of a worksheet are the same, to the millisecond a
/// spreadsheet keeps.
#[track_caller]
fn same_instant(cell: &Data, json: &Value) {
    let expected: DateTime<Utc> = json.as_str().and_then(|text| text.parse().ok()).expect("an RFC 3339 instant");
    let Data::DateTime(date) = cell else { panic!("{cell:?} is not a date (for {expected})") };
    let found = date.as_datetime().expect("a date and time").and_utc();
    assert!((found - expected).num_milliseconds().abs() <= 1, "{found} is not {expected}");
}

async fn settlements_are_valued_in_euros_at_the_rules_in_force_when_they_happen(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);

    // Rules that say nothing of euros: tokens only.
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    let without = settle(&app, &venue).await;
    assert_eq!((without["tokens"].as_u64(), without["amount_cents"].clone()), (Some(3), Value::Null));

    // A token worth 0.50 €: the settlement carries its euros, fixed in its event.
    app.put_rules(&rules_with_token_value(50)).await.expect(StatusCode::OK);
    app.redeem(&venue, &citizen, 4).await.expect(StatusCode::CREATED);
    let valued = settle(&app, &venue).await;
    assert_eq!((valued["tokens"].as_u64(), valued["amount_cents"].as_u64()), (Some(4), Some(200)));
    let nothing = settle(&app, &venue).await;
    assert_eq!((nothing["tokens"].as_u64(), nothing["amount_cents"].as_u64()), (Some(0), Some(0)));

    let events = app
        .get(&format!("/v1/audit/events?after={}&limit=10", position(&valued) - 3), &app.admin_token)
        .await
        .expect(StatusCode::OK);
    let settled: Vec<&Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|event| event["event_type"] == "VenueSettled")
        .collect();
    assert_eq!(settled.len(), 1, "{events}");
    assert_eq!(settled[0]["event_version"], "2");
    assert_eq!(
        settled[0]["payload"]["VenueSettled"]["value"],
        json!({ "rules_version": 2, "token_value_cents": 50, "amount_cents": 200 })
    );
    let (code, output) = app.audit_verify();
    assert_eq!(code, 0, "{output}");
}

async fn a_statement_carries_euros_beside_every_token_figure_for_its_period(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &citizen, "culture", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    settle(&app, &venue).await;
    app.put_rules(&rules_with_token_value(50)).await.expect(StatusCode::OK);
    app.redeem(&venue, &citizen, 4).await.expect(StatusCode::CREATED);
    settle(&app, &venue).await;
    // A later value changes what is still to settle, never what was settled.
    app.put_rules(&rules_with_token_value(80)).await.expect(StatusCode::OK);
    app.redeem(&venue, &citizen, 5).await.expect(StatusCode::CREATED);

    let path = format!("/v1/venues/{}/statements?min_position={}", venue.id, app.latest().await);
    let whole = app.get(&path, &venue.token).await.expect(StatusCode::OK);
    assert_eq!((whole["redemptions"].as_u64(), whole["redeemed_tokens"].as_u64()), (Some(3), Some(12)));
    assert_eq!((whole["settled_tokens"].as_u64(), whole["unsettled_tokens"].as_u64()), (Some(7), Some(5)));
    assert_eq!(whole["unsettled_amount_cents"], 400);
    // 3 of the settled tokens were settled when a token had no value: the totals cannot say.
    assert_eq!((&whole["settled_amount_cents"], &whole["redeemed_amount_cents"]), (&Value::Null, &Value::Null));
    let settlements = whole["settlements"].as_array().expect("settlements");
    let figures: Vec<(Option<u64>, Value)> =
        settlements.iter().map(|item| (item["tokens"].as_u64(), item["amount_cents"].clone())).collect();
    assert_eq!(figures, [(Some(3), Value::Null), (Some(4), json!(200))]);

    // From the second redemption on: every token has a value.
    let from = redemptions(&app, &venue).await[1]["redeemed_at"].as_str().expect("redeemed_at").to_owned();
    let recent =
        app.get(&format!("{path}&from={}", from.replace('+', "%2B")), &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!((recent["redemptions"].as_u64(), recent["redeemed_tokens"].as_u64()), (Some(2), Some(9)));
    assert_eq!(recent["settled_amount_cents"], 200, "valued at 50 cents, as when it was settled");
    assert_eq!(recent["unsettled_amount_cents"], 400);
    assert_eq!(recent["redeemed_amount_cents"], 600);
    assert_eq!(recent["settlements"].as_array().map(Vec::len), Some(1));
}

async fn the_audit_finds_a_settlement_whose_euros_were_changed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.put_rules(&rules_with_token_value(50)).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    assert_eq!(settle(&app, &venue).await["amount_cents"], 150);
    let raw = Raw::open(&app).await;
    let position = raw.position_of("VenueSettled").await;
    // A hundred times more euros than the rules give, behind the server's back.
    raw.execute(
        "UPDATE events SET payload = replace(payload, '\"amount_cents\":150', '\"amount_cents\":15000') WHERE position = ?1",
        "UPDATE events SET payload = jsonb_set(payload::jsonb, '{VenueSettled,value,amount_cents}', '15000')::json \
         WHERE position = $1",
        position,
    )
    .await;
    let (code, output) = app.audit_verify();
    assert_eq!(code, 1, "{output}");
    assert!(names(&output, position), "names the settlement at {position}: {output}");
    assert!(output.contains("valued at 15000 euro cents") && output.contains("give 150"), "{output}");
}

async fn a_statement_downloads_as_csv_and_xlsx_one_row_per_redemption(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.put_rules(&rules_with_token_value(50)).await.expect(StatusCode::OK);
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    settle(&app, &venue).await;
    app.redeem(&venue, &citizen, 2).await.expect(StatusCode::CREATED);
    let lines = redemptions(&app, &venue).await;
    let path = format!("/v1/venues/{}/statements?min_position={}", venue.id, app.latest().await);
    let statement = app.get(&path, &venue.token).await.expect(StatusCode::OK);
    let settlement = &statement["settlements"][0];
    let field = |value: &Value| value.as_str().expect("text").to_owned();

    let csv = download(&app, &format!("{path}&format=csv"), &venue.token).await;
    let expected = format!(
        "redemption_id,redeemed_at,tokens,amount_cents,settlement_id,settled_at\r\n\
         {},{},3,150,{},{}\r\n{},{},2,100,,\r\n",
        field(&lines[0]["redemption_id"]),
        field(&lines[0]["redeemed_at"]),
        field(&settlement["settlement_id"]),
        field(&settlement["settled_at"]),
        field(&lines[1]["redemption_id"]),
        field(&lines[1]["redeemed_at"]),
    );
    assert_eq!(csv.csv(&format!("statement-{}.csv", venue.id)), expected);

    let xlsx = download(&app, &format!("{path}&format=xlsx"), &app.admin_token).await;
    let rows = xlsx.xlsx(&format!("statement-{}.xlsx", venue.id), "statement");
    let header: Vec<Data> =
        ["redemption_id", "redeemed_at", "tokens", "amount_cents", "settlement_id", "settled_at"].map(text).into();
    assert_eq!(rows[0], header);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[1][0], text(&field(&lines[0]["redemption_id"])));
    same_instant(&rows[1][1], &lines[0]["redeemed_at"]);
    assert_eq!(rows[1][2..5], [number(3), number(150), text(&field(&settlement["settlement_id"]))]);
    same_instant(&rows[1][5], &settlement["settled_at"]);
    assert_eq!(rows[2][0], text(&field(&lines[1]["redemption_id"])));
    same_instant(&rows[2][1], &lines[1]["redeemed_at"]);
    assert_eq!(rows[2][2..], [number(2), number(100), Data::Empty, Data::Empty]);
}

async fn participation_downloads_as_csv_and_xlsx_by_age_band(backend: Backend) {
    let app = spawn_app(backend).await;
    // The territory's own citizen has no action: no row of theirs.
    let (association, _venue, _citizen) = app.territory(1_000).await;
    // Ages reached in the year of the actions (an hour ago): 20 and 40.
    let year = (Utc::now() - chrono::Duration::hours(1)).year();
    let younger = app
        .post("/v1/citizens", &app.admin_token, json!({ "neighbourhood": "Gare", "birth_year": year - 20 }))
        .await
        .expect(StatusCode::CREATED);
    let younger = Citizen {
        id: younger["citizen_id"].as_str().expect("id").to_owned(),
        token: younger["token"].as_str().expect("token").to_owned(),
    };
    let older = app
        .post("/v1/citizens", &app.admin_token, json!({ "neighbourhood": "Centre", "birth_year": year - 40 }))
        .await
        .expect(StatusCode::CREATED);
    let older = Citizen {
        id: older["citizen_id"].as_str().expect("id").to_owned(),
        token: older["token"].as_str().expect("token").to_owned(),
    };
    app.certify(&association, &younger, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &younger, "culture", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &older, "culture", 1).await.expect(StatusCode::CREATED);
    let path = format!("/v1/dashboards/participation?by=age_band&min_position={}", app.latest().await);
    let json = app.get(&path, &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(
        json["rows"],
        json!([
            { "key": "15-24", "actions": 2, "citizens": 1, "tokens": 18 },
            { "key": "35-49", "actions": 1, "citizens": 1, "tokens": 8 },
        ])
    );
    let csv = download(&app, &format!("{path}&format=csv"), &app.admin_token).await;
    assert_eq!(csv.csv("participation-age_band.csv"), "key,actions,citizens,tokens\r\n15-24,2,1,18\r\n35-49,1,1,8\r\n");
    let xlsx = download(&app, &format!("{path}&format=xlsx"), &app.admin_token).await;
    assert_eq!(
        xlsx.xlsx("participation-age_band.xlsx", "participation"),
        [
            ["key", "actions", "citizens", "tokens"].map(text).to_vec(),
            vec![text("15-24"), number(2), number(1), number(18)],
            vec![text("35-49"), number(1), number(1), number(8)],
        ]
    );
}

async fn circulation_downloads_as_csv_and_xlsx_in_one_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, venue, citizen) = app.territory(1_000).await;
    app.certify(&association, &citizen, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&venue, &citizen, 3).await.expect(StatusCode::CREATED);
    let latest = app.latest().await;
    let json = app.circulation(latest).await;
    let columns = [
        "minted",
        "treasury",
        "envelopes",
        "wallets",
        "redeemed_unsettled",
        "recovered",
        "expired",
        "issued",
        "redeemed",
        "revoked",
        "gold_issued",
        "gold_outstanding",
        "gold_entered",
        "gold_taken_back",
        "position",
    ];
    let figures: Vec<u64> = columns.iter().map(|column| json[*column].as_u64().expect(column)).collect();
    assert_eq!(figures[..5], [1_000_000, 999_000, 990, 7, 3]);
    let path = format!("/v1/dashboards/circulation?min_position={latest}");
    let csv = download(&app, &format!("{path}&format=csv"), &app.admin_token).await;
    let values: Vec<String> = figures.iter().map(u64::to_string).collect();
    assert_eq!(csv.csv("circulation.csv"), format!("{}\r\n{}\r\n", columns.join(","), values.join(",")));
    let xlsx = download(&app, &format!("{path}&format=xlsx"), &app.admin_token).await;
    assert_eq!(
        xlsx.xlsx("circulation.xlsx", "circulation"),
        [columns.map(text).to_vec(), figures.iter().map(|figure| number(*figure)).collect()]
    );
}

async fn participation_by_venue_counts_redemptions_citizens_and_tokens_in_the_period(backend: Backend) {
    let app = spawn_app(backend).await;
    let (association, pool, first) = app.territory(1_000).await;
    let second = app.register_citizen().await;
    // A name with a comma and quotes: the CSV quotes it.
    let key = ygor_crypto::SecretKey::generate();
    let body = json!({ "kind": "venue", "name": "Théâtre, \"La Scène\"", "public_key": key.public_key().to_string() });
    let theatre = app.post("/v1/partners", &app.admin_token, body).await.expect(StatusCode::CREATED);
    let theatre = Partner {
        id: theatre["partner_id"].as_str().expect("id").to_owned(),
        token: theatre["token"].as_str().expect("token").to_owned(),
        key,
    };
    app.certify(&association, &first, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.certify(&association, &second, "ecologie", 1).await.expect(StatusCode::CREATED);
    app.redeem(&pool, &first, 3).await.expect(StatusCode::CREATED);
    app.redeem(&pool, &first, 2).await.expect(StatusCode::CREATED);
    app.redeem(&theatre, &second, 4).await.expect(StatusCode::CREATED);
    app.redeem(&pool, &second, 1).await.expect(StatusCode::CREATED);
    app.redeem(&theatre, &first, 5).await.expect(StatusCode::CREATED);
    let pool_key = format!("venue de test ({})", pool.id);
    let theatre_key = format!("Théâtre, \"La Scène\" ({})", theatre.id);

    let path = format!("/v1/dashboards/participation?by=venue&min_position={}", app.latest().await);
    let all = app.get(&path, &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(all["by"], "venue");
    assert_eq!(
        all["rows"],
        json!([
            { "key": theatre_key, "actions": 2, "citizens": 2, "tokens": 9 },
            { "key": pool_key, "actions": 3, "citizens": 2, "tokens": 6 },
        ])
    );

    // From the pool's second redemption (included) to the theatre's second (excluded).
    let (pool_lines, theatre_lines) = (redemptions(&app, &pool).await, redemptions(&app, &theatre).await);
    let instant = |line: &Value| line["redeemed_at"].as_str().expect("redeemed_at").replace('+', "%2B");
    let period = format!("{path}&from={}&to={}", instant(&pool_lines[1]), instant(&theatre_lines[1]));
    let some = app.get(&period, &app.admin_token).await.expect(StatusCode::OK);
    assert_eq!(
        some["rows"],
        json!([
            { "key": theatre_key, "actions": 1, "citizens": 1, "tokens": 4 },
            { "key": pool_key, "actions": 2, "citizens": 2, "tokens": 3 },
        ])
    );
    let csv = download(&app, &format!("{period}&format=csv"), &app.admin_token).await;
    assert_eq!(
        csv.csv("participation-venue.csv"),
        format!(
            "key,actions,citizens,tokens\r\n\"Théâtre, \"\"La Scène\"\" ({})\",1,1,4\r\n{pool_key},2,2,3\r\n",
            theatre.id
        )
    );
}

async fn an_unknown_format_or_another_venue_is_refused_before_any_file_is_made(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_association, venue, _citizen) = app.territory(1_000).await;
    for path in [
        format!("/v1/venues/{}/statements?format=pdf", venue.id),
        "/v1/dashboards/participation?by=venue&format=ods".to_owned(),
        "/v1/dashboards/circulation?format=XLSX".to_owned(),
        format!("/v1/venues/{}/statements?format=xlsx&from=yesterday", venue.id),
    ] {
        app.get(&path, &app.admin_token).await.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    }
    let refused = app.get("/v1/dashboards/circulation?format=pdf", &app.admin_token).await;
    assert!(refused.body["detail"].as_str().is_some_and(|detail| detail.contains("json, csv or xlsx")), "{refused:?}");
    let unknown = app.get("/v1/dashboards/participation?by=venues", &app.admin_token).await;
    assert!(unknown.body["detail"].as_str().is_some_and(|detail| detail.contains("venue")), "{unknown:?}");
    unknown.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");

    let other = app.register_partner("venue").await;
    app.get(&format!("/v1/venues/{}/statements?format=xlsx", venue.id), &other.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let citizen = app.register_citizen().await;
    app.get("/v1/dashboards/participation?by=venue&format=csv", &citizen.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    app.get("/v1/dashboards/circulation?format=xlsx", &venue.token)
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
}
