//! Given a rules file, when it is parsed, then it becomes these rules or is refused on this line.

use chrono::{DateTime, TimeZone, Utc};
use ygor_rules::{IsoDuration, MAX_SOURCE_BYTES, Rules, RulesError};

/// The sample territory of shared/samples/rules.toml, copied so the test does not read outside the crate.
const SAMPLE: &str = include_str!("fixtures/sample_rules.toml");
/// The example of docs/api.md, section "Rules (TOML)", verbatim.
const API_EXAMPLE: &str = include_str!("fixtures/api_example.toml");

/// The smallest valid file: a lifetime and one category, five lines.
const MINIMAL: &str = "[tokens]
lifetime = \"P6M\"
[[categories]]
id = \"ecologie\"
label = \"Écologie\"
tokens_per_action = 10
";

fn parsed(source: &str) -> Rules {
    match Rules::parse(source) {
        Ok(rules) => rules,
        Err(error) => panic!("expected the file to parse, got: {error}\n--- file ---\n{source}"),
    }
}

fn refused(source: &str) -> RulesError {
    match Rules::parse(source) {
        Ok(rules) => {
            panic!("expected the file to be refused, got {rules:?}\n--- file ---\n{source}")
        }
        Err(error) => error,
    }
}

/// `MINIMAL` followed by `extra`.
fn minimal_with(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

/// The 1-based line of the only line of `source` that contains `needle`.
fn line_containing(source: &str, needle: &str) -> Option<usize> {
    let lines: Vec<usize> =
        source.lines().enumerate().filter(|(_, line)| line.contains(needle)).map(|(index, _)| index + 1).collect();
    assert_eq!(lines.len(), 1, "`{needle}` must appear on exactly one line of:\n{source}");
    lines.first().copied()
}

/// Asserts that `source` is refused on the line holding `needle`, with a message holding `words`.
fn assert_refused_at(source: &str, needle: &str, words: &str) {
    let error = refused(source);
    assert_eq!(error.line, line_containing(source, needle), "wrong line for {error}\n--- file ---\n{source}");
    assert!(error.message.contains(words), "message `{}` lacks `{words}`\n--- file ---\n{source}", error.message);
}

fn at(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0).single().expect("a valid test instant")
}

fn months(months: u32) -> IsoDuration {
    IsoDuration { months, ..IsoDuration::default() }
}

// --- Files that parse ---------------------------------------------------------------------------

#[test]
fn sample_territory_file_parses_into_its_categories_and_badges() {
    let rules = parsed(SAMPLE);

    assert_eq!(rules.lifetime, months(6));
    let gold = rules.gold.as_ref().expect("the sample has gold");
    assert_eq!(gold.probability, 0.02);
    assert_eq!(gold.period, months(1));
    let ids: Vec<&str> = rules.categories.iter().map(|category| category.id.as_str()).collect();
    assert_eq!(ids, ["ecologie", "solidarite", "culture", "citoyennete", "transmission", "velo"]);
    let velo = rules.category("velo").expect("velo is defined");
    assert_eq!(velo.label, "Vélo (par km)");
    assert_eq!(velo.tokens_per_action, 0);
    assert_eq!(velo.tokens_per_unit, 1);
    assert_eq!(velo.cap_per_citizen_per_month, Some(100));
    assert_eq!(velo.tokens_for(50), Some(50));
    assert_eq!(rules.category("ecologie").and_then(|category| category.tokens_for(0)), Some(10));

    assert_eq!(rules.badges.len(), 5);
    let july = rules.badges.iter().find(|badge| badge.id == "velo-juillet").expect("the July challenge is defined");
    assert_eq!(july.quantity_min, Some(50));
    assert_eq!(july.actions_min, None);
    assert_eq!(july.from, Some(at(2026, 7, 1, 0)));
    assert_eq!(july.to, Some(at(2026, 8, 1, 0)));
}

#[test]
fn sample_territory_levels_of_a_category_come_in_growing_thresholds() {
    let rules = parsed(SAMPLE);
    let levels: Vec<&str> = rules.badges_of("ecologie").map(|badge| badge.id.as_str()).collect();
    assert_eq!(levels, ["ecologie-1", "ecologie-2"]);
    assert_eq!(rules.badges_of("culture").count(), 0);
}

#[test]
fn api_example_parses_once_its_velo_category_is_defined() {
    let source = format!(
        "{API_EXAMPLE}\n[[categories]]\nid = \"velo\"\nlabel = \"Vélo\"\ntokens_per_action = 0\ntokens_per_unit = 1\n"
    );
    let rules = parsed(&source);

    assert_eq!(rules.lifetime, months(6));
    let gold = rules.gold.as_ref().expect("the example has gold");
    assert_eq!(gold.probability, 0.05);
    assert_eq!(gold.period, months(1));
    let ecologie = rules.category("ecologie").expect("ecologie is defined");
    assert_eq!(ecologie.tokens_per_action, 10);
    assert_eq!(ecologie.tokens_per_unit, 0);
    assert_eq!(ecologie.cap_per_citizen_per_month, Some(100));
    let ids: Vec<&str> = rules.badges.iter().map(|badge| badge.id.as_str()).collect();
    assert_eq!(ids, ["ecologie-1", "velo-juillet-2026"]);
    assert_eq!(rules.badges[0].actions_min, Some(3));
    assert_eq!(rules.badges[1].quantity_min, Some(50));
    assert!(rules.badges[1].window_contains(at(2026, 7, 31, 23)));
    assert!(!rules.badges[1].window_contains(at(2026, 8, 1, 0)));
}

#[test]
fn api_example_as_printed_is_accepted_although_velo_is_not_a_category() {
    // docs/api.md says every version must accept its example, whose challenge counts category `velo`
    // without defining it: such a badge is kept and cannot be earned until `velo` exists.
    let rules = parsed(API_EXAMPLE);
    assert!(rules.category("velo").is_none());
    assert_eq!(rules.badges[1].category, "velo");
}

// --- Defaults ----------------------------------------------------------------------------------

#[test]
fn file_without_gold_table_has_no_gold() {
    assert_eq!(parsed(MINIMAL).gold, None);
}

#[test]
fn gold_without_period_has_periods_of_one_month() {
    let rules = parsed(&minimal_with("[gold]\nprobability = 0.05\n"));
    assert_eq!(rules.gold.map(|gold| gold.period), Some(months(1)));
}

#[test]
fn gold_period_of_seconds_is_legal() {
    let rules = parsed(&minimal_with("[gold]\nprobability = 0.05\nperiod = \"PT5S\"\n"));
    let period = rules.gold.map(|gold| gold.period);
    assert_eq!(period, Some(IsoDuration { seconds: 5, ..IsoDuration::default() }));
}

#[test]
fn lifetime_of_seconds_is_legal() {
    let rules = parsed(&MINIMAL.replace("P6M", "PT30S"));
    assert_eq!(rules.lifetime.to_string(), "PT30S");
}

#[test]
fn category_without_tokens_per_unit_earns_nothing_per_unit() {
    let rules = parsed(MINIMAL);
    let ecologie = rules.category("ecologie").expect("ecologie is defined");
    assert_eq!(ecologie.tokens_per_unit, 0);
    assert_eq!(ecologie.tokens_for(42), Some(10));
}

#[test]
fn category_without_cap_has_no_cap() {
    assert_eq!(parsed(MINIMAL).categories[0].cap_per_citizen_per_month, None);
}

#[test]
fn file_without_badges_has_no_badges() {
    assert!(parsed(MINIMAL).badges.is_empty());
}

#[test]
fn probability_written_as_a_whole_number_is_accepted() {
    for (written, probability) in [("0", 0.0), ("1", 1.0), ("0.0", 0.0), ("1.0", 1.0)] {
        let rules = parsed(&minimal_with(&format!("[gold]\nprobability = {written}\n")));
        assert_eq!(rules.gold.map(|gold| gold.probability), Some(probability));
    }
}

#[test]
fn badge_window_accepts_rfc3339_strings_and_toml_datetimes_with_an_offset() {
    let rules = parsed(&minimal_with(
        "[[badges]]
id = \"ete\"
label = \"Été\"
category = \"ecologie\"
actions_min = 1
from = 2026-06-21T02:00:00+02:00
to = \"2026-09-23T00:00:00-01:00\"
",
    ));
    assert_eq!(rules.badges[0].from, Some(at(2026, 6, 21, 0)));
    assert_eq!(rules.badges[0].to, Some(at(2026, 9, 23, 1)));
}

#[test]
fn badge_may_require_both_a_count_and_a_quantity() {
    let rules = parsed(&minimal_with(
        "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 2\nquantity_min = 20\n",
    ));
    assert_eq!(rules.badges[0].actions_min, Some(2));
    assert_eq!(rules.badges[0].quantity_min, Some(20));
}

#[test]
fn categories_may_be_written_as_inline_tables() {
    let rules = parsed(
        "categories = [{ id = \"culture\", label = \"Culture\", tokens_per_action = 8 }]\n[tokens]\nlifetime = \"P6M\"\n",
    );
    assert_eq!(rules.categories[0].id, "culture");
}

// --- Syntax, unknown keys, types, missing keys -------------------------------------------------

#[test]
fn toml_syntax_error_is_refused_with_its_line() {
    assert_refused_at(&minimal_with("[[badges]]\nid = ecologie-1\n"), "id = ecologie-1", "TOML syntax error");
    assert_refused_at(&minimal_with("[gold\nprobability = 0.05\n"), "[gold", "TOML syntax error");
}

#[test]
fn unknown_key_in_category_is_refused_with_its_line() {
    let source = "[tokens]
lifetime = \"P6M\"

[[categories]]
id = \"ecologie\"
label = \"Écologie\"
tokens_per_action = 10

[[categories]]
id = \"culture\"
label = \"Culture\"
tokens_per_acton = 8
";
    let error = refused(source);
    assert_eq!(error.line, Some(12));
    assert!(error.to_string().starts_with("line 12: unknown key `tokens_per_acton` in [[categories]]"), "{error}");
    assert!(error.message.contains("`tokens_per_action`"), "{error}");
}

#[test]
fn unknown_key_anywhere_is_refused_with_its_line_and_table() {
    let cases = [
        (
            "[tokens]\nlifetime = \"P6M\"\nlifetime_days = 180\n[[categories]]\nid = \"a\"\nlabel = \"A\"\ntokens_per_action = 1\n",
            "lifetime_days",
            "unknown key `lifetime_days` in [tokens]",
        ),
        (
            &minimal_with("[gold]\nprobability = 0.05\nperiode = \"P1M\"\n"),
            "periode",
            "unknown key `periode` in [gold]",
        ),
        (
            &minimal_with(
                "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\nuntil = \"2026-01-01T00:00:00Z\"\n",
            ),
            "until",
            "unknown key `until` in [[badges]]",
        ),
        (&format!("version = 2\n{MINIMAL}"), "version", "unknown key `version` at the top level of the file"),
        (&minimal_with("[offers]\nprice_max = 10\n"), "[offers]", "unknown key `offers` at the top level of the file"),
        (
            "categories = [{ id = \"a\", label = \"A\", tokens_per_action = 1, colour = \"green\" }]\n[tokens]\nlifetime = \"P6M\"\n",
            "colour",
            "unknown key `colour` in [[categories]]",
        ),
    ];
    for (source, needle, words) in cases {
        assert_refused_at(source, needle, words);
    }
}

#[test]
fn value_of_the_wrong_type_is_refused_with_its_line_and_key() {
    let cases = [
        (
            MINIMAL.replace("tokens_per_action = 10", "tokens_per_action = \"10\""),
            "tokens_per_action",
            "`tokens_per_action` in [[categories]]: invalid type: string \"10\", expected a whole number",
        ),
        (
            MINIMAL.replace("tokens_per_action = 10", "tokens_per_action = 10.5"),
            "tokens_per_action",
            "`tokens_per_action` in [[categories]]",
        ),
        (
            MINIMAL.replace("label = \"Écologie\"", "label = 3"),
            "label",
            "`label` in [[categories]]: invalid type: integer `3`, expected a string",
        ),
        (MINIMAL.replace("lifetime = \"P6M\"", "lifetime = 6"), "lifetime", "`lifetime` in [tokens]"),
        (
            minimal_with("[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = true\n"),
            "actions_min",
            "`actions_min` in [[badges]]",
        ),
        (
            minimal_with("[gold]\nprobability = \"5%\"\n"),
            "probability",
            "`probability` in [gold] must be a number between 0 and 1",
        ),
        (format!("badges = 3\n{MINIMAL}"), "badges = 3", "`badges` at the top level of the file"),
    ];
    for (source, needle, words) in cases {
        assert_refused_at(&source, needle, words);
    }
}

#[test]
fn missing_required_key_is_refused_on_the_line_of_its_table() {
    let cases = [
        (
            "[tokens]\n[[categories]]\nid = \"a\"\nlabel = \"A\"\ntokens_per_action = 1\n".to_owned(),
            "[tokens]",
            "missing key `lifetime` in [tokens]",
        ),
        (MINIMAL.replace("id = \"ecologie\"\n", ""), "[[categories]]", "missing key `id` in [[categories]]"),
        (MINIMAL.replace("label = \"Écologie\"\n", ""), "[[categories]]", "missing key `label` in [[categories]]"),
        (
            MINIMAL.replace("tokens_per_action = 10\n", ""),
            "[[categories]]",
            "missing key `tokens_per_action` in [[categories]]",
        ),
        (
            minimal_with("[[badges]]\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\n"),
            "[[badges]]",
            "missing key `id` in [[badges]]",
        ),
        (
            minimal_with("[[badges]]\nid = \"b\"\ncategory = \"ecologie\"\nactions_min = 1\n"),
            "[[badges]]",
            "missing key `label` in [[badges]]",
        ),
        (
            minimal_with("[[badges]]\nid = \"b\"\nlabel = \"B\"\nactions_min = 1\n"),
            "[[badges]]",
            "missing key `category` in [[badges]]",
        ),
        (minimal_with("[gold]\nperiod = \"P1M\"\n"), "[gold]", "missing key `probability` in [gold]"),
    ];
    for (source, needle, words) in cases {
        assert_refused_at(&source, needle, words);
    }
}

#[test]
fn file_without_tokens_table_is_refused_without_a_line() {
    let error = refused("[[categories]]\nid = \"a\"\nlabel = \"A\"\ntokens_per_action = 1\n");
    assert_eq!(error.line, None);
    assert!(error.message.contains("missing table [tokens]"), "{error}");
    assert!(error.to_string().starts_with("missing table [tokens]"), "{error}");
}

#[test]
fn empty_file_is_refused_without_a_line() {
    assert_eq!(refused("").line, None);
}

// --- Limits ------------------------------------------------------------------------------------

#[test]
fn file_of_64_kib_is_accepted_and_one_byte_more_is_refused() {
    let padding = |total: usize| {
        let comment_length = total - MINIMAL.len() - 2;
        format!("{MINIMAL}#{}\n", "x".repeat(comment_length))
    };
    let at_limit = padding(MAX_SOURCE_BYTES);
    assert_eq!(at_limit.len(), 64 * 1024);
    parsed(&at_limit);

    let over_limit = padding(MAX_SOURCE_BYTES + 1);
    let error = refused(&over_limit);
    assert_eq!(error.line, None);
    assert!(error.message.contains("64 KiB"), "{error}");
}

fn categories(count: usize) -> String {
    (0..count)
        .map(|index| format!("[[categories]]\nid = \"c{index}\"\nlabel = \"C{index}\"\ntokens_per_action = 1\n"))
        .collect()
}

fn badges(count: usize) -> String {
    (0..count)
        .map(|index| {
            format!(
                "[[badges]]\nid = \"b{index}\"\nlabel = \"B{index}\"\ncategory = \"ecologie\"\nactions_min = {}\n",
                index + 1
            )
        })
        .collect()
}

#[test]
fn two_hundred_categories_are_accepted_and_the_201st_is_refused_with_its_line() {
    let source = format!("[tokens]\nlifetime = \"P6M\"\n{}", categories(200));
    assert_eq!(parsed(&source).categories.len(), 200);

    let source = format!("[tokens]\nlifetime = \"P6M\"\n{}", categories(201));
    let error = refused(&source);
    assert_eq!(error.line, line_containing(&source, "\"c200\"").map(|line| line - 1));
    assert!(error.message.contains("at most 200"), "{error}");
}

#[test]
fn five_hundred_badges_are_accepted_and_the_501st_is_refused_with_its_line() {
    let source = minimal_with(&badges(500));
    assert_eq!(parsed(&source).badges.len(), 500);

    let source = minimal_with(&badges(501));
    let error = refused(&source);
    assert_eq!(error.line, line_containing(&source, "\"b500\"").map(|line| line - 1));
    assert!(error.message.contains("at most 500"), "{error}");
}

#[test]
fn malformed_ids_are_refused_with_their_line() {
    let too_long = "a".repeat(65);
    for id in ["Ecologie", "écologie", "-velo", "_velo", "velo juillet", "velo.km", "", too_long.as_str()] {
        let source = MINIMAL.replace("id = \"ecologie\"", &format!("id = \"{id}\""));
        assert_refused_at(&source, "id = ", "`id` in [[categories]]");
    }
    let source =
        minimal_with("[[badges]]\nid = \"Niveau 1\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\n");
    assert_refused_at(&source, "Niveau 1", "`id` in [[badges]]");
}

#[test]
fn ids_of_lowercase_letters_digits_dashes_and_underscores_are_accepted() {
    let longest = format!("a{}", "_".repeat(63));
    for id in ["0", "velo-2026_juillet", "2026", longest.as_str()] {
        let source = MINIMAL.replace("id = \"ecologie\"", &format!("id = \"{id}\""));
        assert_eq!(parsed(&source).categories[0].id, id);
    }
}

#[test]
fn labels_must_hold_one_to_two_hundred_characters_on_one_line() {
    let longest = "é".repeat(200);
    let source = MINIMAL.replace("label = \"Écologie\"", &format!("label = \"{longest}\""));
    assert_eq!(parsed(&source).categories[0].label, longest);

    let too_long = "é".repeat(201);
    for label in ["", "   ", too_long.as_str(), "Écologie\\nniveau 1", "Écologie\\tniveau 1"] {
        let source = MINIMAL.replace("label = \"Écologie\"", &format!("label = \"{label}\""));
        assert_refused_at(&source, "label = ", "`label` in [[categories]]");
    }
    let source = minimal_with("[[badges]]\nid = \"b\"\nlabel = \"\"\ncategory = \"ecologie\"\nactions_min = 1\n");
    assert_refused_at(&source, "label = \"\"", "`label` in [[badges]] must not be empty");
}

#[test]
fn amounts_caps_and_thresholds_up_to_one_million_are_accepted() {
    let source = format!(
        "[tokens]\nlifetime = \"P6M\"\n[[categories]]\nid = \"a\"\nlabel = \"A\"\ntokens_per_action = 1000000\ntokens_per_unit = 1000000\ncap_per_citizen_per_month = 1000000\n{}",
        "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"a\"\nactions_min = 1000000\nquantity_min = 1000000\n"
    );
    let rules = parsed(&source);
    assert_eq!(rules.categories[0].tokens_per_action, 1_000_000);
    assert_eq!(rules.categories[0].tokens_for(1_000_000), Some(1_000_001_000_000));
    assert_eq!(rules.badges[0].quantity_min, Some(1_000_000));
}

#[test]
fn amounts_caps_and_thresholds_over_one_million_or_negative_are_refused_with_their_line() {
    for key in ["tokens_per_action", "tokens_per_unit", "cap_per_citizen_per_month"] {
        for value in ["1000001", "-1", "9223372036854775807"] {
            let line = format!("{key} = {value}");
            // `MINIMAL` ends inside its category, so an appended key belongs to that category.
            let source = if key == "tokens_per_action" {
                MINIMAL.replace("tokens_per_action = 10", &line)
            } else {
                minimal_with(&format!("{line}\n"))
            };
            assert_refused_at(
                &source,
                &format!("{key} = "),
                &format!("`{key}` in [[categories]] must be a whole number from 0 to 1000000"),
            );
        }
    }
    for key in ["actions_min", "quantity_min"] {
        let source =
            minimal_with(&format!("[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\n{key} = 1000001\n"));
        assert_refused_at(&source, key, &format!("`{key}` in [[badges]] must be a whole number from 1 to 1000000"));
    }
}

#[test]
fn probability_outside_zero_to_one_or_not_finite_is_refused_with_its_line() {
    for value in ["1.5", "-0.1", "2", "-1", "nan", "inf", "-inf", "+inf", "1e300"] {
        let source = minimal_with(&format!("[gold]\nprobability = {value}\n"));
        assert_refused_at(&source, "probability", "`probability` in [gold] must be a number between 0 and 1");
    }
    let source = minimal_with("[gold]\nprobability = 1.0000001\n");
    assert_refused_at(&source, "probability", "between 0 and 1");
}

// --- Durations ---------------------------------------------------------------------------------

#[test]
fn zero_lifetime_is_refused_with_its_line() {
    for zero in ["P0D", "PT0S", "P0Y0M"] {
        assert_refused_at(&MINIMAL.replace("P6M", zero), "lifetime", "`lifetime` in [tokens] must be longer than zero");
    }
}

#[test]
fn zero_gold_period_is_refused_with_its_line() {
    let source = minimal_with("[gold]\nprobability = 0.05\nperiod = \"PT0S\"\n");
    assert_refused_at(&source, "period", "`period` in [gold] must be longer than zero");
}

#[test]
fn lifetime_that_is_not_an_iso_duration_is_refused_with_its_line_and_reason() {
    for (text, reason) in [
        ("6 mois", "must start with `P`"),
        ("P", "at least one component"),
        ("PT", "`T` must be followed"),
        ("-P6M", "negative"),
        ("P1.5M", "fractions"),
        ("P6X", "unexpected character `X`"),
    ] {
        let source = MINIMAL.replace("P6M", text);
        assert_refused_at(&source, "lifetime", "`lifetime` in [tokens] is not an ISO 8601 duration");
        assert_refused_at(&source, "lifetime", reason);
    }
    let source = minimal_with("[gold]\nprobability = 0.05\nperiod = \"1 mois\"\n");
    assert_refused_at(&source, "period", "`period` in [gold] is not an ISO 8601 duration");
}

#[test]
fn lifetime_over_a_hundred_years_is_refused_with_its_line() {
    parsed(&MINIMAL.replace("P6M", "P100Y"));
    for text in ["P101Y", "P100YT1S", "P1201M", "P4294967295Y"] {
        assert_refused_at(&MINIMAL.replace("P6M", text), "lifetime", "at most 100 years");
    }
}

// --- Checks across entries ---------------------------------------------------------------------

#[test]
fn duplicate_category_id_is_refused_on_the_second_with_the_line_of_the_first() {
    let source =
        minimal_with("[[categories]]\nid = \"ecologie\" # again\nlabel = \"Écologie bis\"\ntokens_per_action = 1\n");
    assert_refused_at(&source, "# again", "duplicate category id `ecologie`: it is already defined on line 4");
}

#[test]
fn duplicate_badge_id_is_refused_on_the_second_with_the_line_of_the_first() {
    let source = minimal_with(
        "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\n[[badges]]\nid = \"b\" # again\nlabel = \"B2\"\ncategory = \"ecologie\"\nactions_min = 2\n",
    );
    assert_refused_at(&source, "# again", "duplicate badge id `b`: it is already defined on line 8");
}

#[test]
fn badge_with_neither_actions_min_nor_quantity_min_is_refused_on_its_header() {
    let source = minimal_with("[[badges]] # no threshold\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\n");
    assert_refused_at(&source, "# no threshold", "badge `b` sets no threshold");
}

#[test]
fn threshold_of_zero_is_refused_with_its_line() {
    for key in ["actions_min", "quantity_min"] {
        let source =
            minimal_with(&format!("[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\n{key} = 0\n"));
        assert_refused_at(&source, key, &format!("`{key}` in [[badges]] must be at least 1"));
    }
}

#[test]
fn window_that_does_not_end_after_it_starts_is_refused_on_its_to_line() {
    for (from, to) in [
        ("2026-08-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("2026-07-01T00:00:00Z", "2026-07-01T00:00:00Z"),
        ("2026-07-01T02:00:00+02:00", "2026-07-01T00:00:00Z"),
    ] {
        let source = minimal_with(&format!(
            "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\nfrom = \"{from}\"\nto = \"{to}\"\n"
        ));
        assert_refused_at(&source, "to = ", "the window must end after it starts");
    }
}

#[test]
fn window_bound_without_an_offset_or_not_a_date_time_is_refused_with_its_line() {
    for value in [
        "2026-07-01T00:00:00",
        "2026-07-01",
        "00:00:00",
        "\"2026-07-01T00:00:00\"",
        "\"2026-07-01\"",
        "\"1er juillet 2026\"",
        "20260701",
    ] {
        let source = minimal_with(&format!(
            "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\nfrom = {value}\n"
        ));
        assert_refused_at(&source, "from = ", "`from` in [[badges]] must be a date and time with its offset");
    }
}

#[test]
fn window_with_only_one_bound_is_accepted() {
    let source = minimal_with(
        "[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nactions_min = 1\nto = \"2026-07-01T00:00:00Z\"\n",
    );
    let rules = parsed(&source);
    assert_eq!(rules.badges[0].from, None);
    assert_eq!(rules.badges[0].to, Some(at(2026, 7, 1, 0)));
}

#[test]
fn file_without_any_category_is_refused_without_a_line() {
    let error = refused("[tokens]\nlifetime = \"P6M\"\n");
    assert_eq!(error.line, None);
    assert!(error.message.contains("at least one [[categories]]"), "{error}");
}

// --- Stored form -------------------------------------------------------------------------------

#[test]
fn parsed_rules_round_trip_through_json_without_loss() {
    let mut sources = vec![SAMPLE.to_owned(), MINIMAL.to_owned()];
    // A probability that serde_json reads back one bit off unless its `float_roundtrip` feature is
    // on, and a window with nanoseconds: a `RulesPublished` event is replayed from this form.
    sources.push(minimal_with(
        "[gold]\nprobability = 0.21291890726713458\nperiod = \"P1Y2M3W4DT5H6M7S\"\n[[badges]]\nid = \"b\"\nlabel = \"B\"\ncategory = \"ecologie\"\nquantity_min = 7\nfrom = 2026-07-01T00:00:00.123456789+02:00\n",
    ));
    for source in sources {
        let rules = parsed(&source);
        let json = serde_json::to_string(&rules).expect("rules serialize");
        let read_back: Rules = serde_json::from_str(&json).expect("rules deserialize");
        assert_eq!(read_back, rules);
        assert_eq!(
            read_back.gold.as_ref().map(|gold| gold.probability.to_bits()),
            rules.gold.as_ref().map(|gold| gold.probability.to_bits())
        );
        assert_eq!(serde_json::to_string(&read_back).expect("rules serialize"), json);
    }
}

#[test]
fn stored_form_writes_durations_as_iso_text() {
    let json = serde_json::to_value(parsed(SAMPLE)).expect("rules serialize");
    assert_eq!(json["lifetime"], "P6M");
    assert_eq!(json["gold"]["period"], "P1M");
    assert_eq!(json["badges"][4]["from"], "2026-07-01T00:00:00Z");
}

// --- Backdating and neighbourhoods -------------------------------------------------------------

#[test]
fn file_without_backdate_max_accepts_thirty_days_of_backdating() {
    let rules = parsed(MINIMAL);
    assert_eq!(rules.backdate_max, IsoDuration { days: 30, ..IsoDuration::default() });
    assert_eq!(rules.backdate_max.to_string(), "P30D");
}

#[test]
fn backdate_max_is_an_iso_duration_in_tokens() {
    let rules = parsed(&MINIMAL.replace("lifetime = \"P6M\"", "lifetime = \"P6M\"\nbackdate_max = \"P2W\""));
    assert_eq!(rules.backdate_max, IsoDuration { weeks: 2, ..IsoDuration::default() });
}

#[test]
fn backdate_max_that_is_not_a_duration_or_is_zero_is_refused_with_its_line() {
    for value in ["\"30 jours\"", "\"P0D\"", "30"] {
        let source = MINIMAL.replace("lifetime = \"P6M\"", &format!("lifetime = \"P6M\"\nbackdate_max = {value}"));
        assert_refused_at(&source, "backdate_max", "backdate_max");
    }
}

#[test]
fn file_without_neighbourhoods_declares_none() {
    assert!(parsed(MINIMAL).neighbourhoods.is_empty());
}

#[test]
fn neighbourhoods_are_declared_by_id_and_label_in_file_order() {
    let rules = parsed(&minimal_with(
        "[[neighbourhoods]]\nid = \"plaisance\"\nlabel = \"Plaisance\"\n\n[[neighbourhoods]]\nid = \"gare\"\nlabel = \"Gare\"\n",
    ));
    let ids: Vec<&str> = rules.neighbourhoods.iter().map(|neighbourhood| neighbourhood.id.as_str()).collect();
    assert_eq!(ids, ["plaisance", "gare"]);
    assert_eq!(rules.neighbourhoods[1].label, "Gare");
    assert!(rules.accepts_neighbourhood("gare"));
    assert!(!rules.accepts_neighbourhood("centre"));
}

#[test]
fn duplicate_or_malformed_neighbourhood_is_refused_with_its_line() {
    let duplicate = minimal_with(
        "[[neighbourhoods]]\nid = \"gare\"\nlabel = \"Gare\"\n\n[[neighbourhoods]]\nid = \"gare\" # again\nlabel = \"Gare Sud\"\n",
    );
    assert_refused_at(&duplicate, "# again", "duplicate neighbourhood id `gare`");
    let malformed = minimal_with("[[neighbourhoods]]\nid = \"La Gare\"\nlabel = \"Gare\"\n");
    assert_refused_at(&malformed, "La Gare", "[[neighbourhoods]]");
    let unknown = minimal_with("[[neighbourhoods]]\nid = \"gare\"\nlabel = \"Gare\"\npostcode = \"31000\"\n");
    assert_refused_at(&unknown, "postcode", "unknown key `postcode`");
}

// --- Units ---------------------------------------------------------------------------------------

#[test]
fn category_without_unit_has_none_and_one_with_a_unit_keeps_it() {
    assert_eq!(parsed(MINIMAL).categories[0].unit, None);
    let source = MINIMAL.replace("tokens_per_action = 10", "tokens_per_action = 10\nunit = \"km\"");
    assert_eq!(parsed(&source).categories[0].unit.as_deref(), Some("km"));
    let longest = "é".repeat(16);
    let source = MINIMAL.replace("tokens_per_action = 10", &format!("tokens_per_action = 10\nunit = \"{longest}\""));
    assert_eq!(parsed(&source).categories[0].unit, Some(longest));
}

#[test]
fn unit_that_is_empty_too_long_or_not_one_line_is_refused_with_its_line() {
    let too_long = "é".repeat(17);
    for unit in ["", "  ", too_long.as_str(), "km\\nà pied", "km\\t"] {
        let source = MINIMAL.replace("tokens_per_action = 10", &format!("tokens_per_action = 10\nunit = \"{unit}\""));
        assert_refused_at(&source, "unit = ", "`unit` in [[categories]]");
    }
    let source = MINIMAL.replace("tokens_per_action = 10", "tokens_per_action = 10\nunit = 3");
    assert_refused_at(&source, "unit = 3", "`unit` in [[categories]]");
}

// --- Settlement in euros -----------------------------------------------------------------------

#[test]
fn file_without_settlement_table_gives_tokens_no_value() {
    assert_eq!(parsed(MINIMAL).settlement, None);
}

#[test]
fn settlement_table_gives_the_value_of_one_token_in_cents() {
    let rules = parsed(&minimal_with("[settlement]\ntoken_value_cents = 50\n"));
    assert_eq!(rules.settlement.map(|settlement| settlement.token_value_cents), Some(50));
    assert_eq!(rules.settlement.and_then(|settlement| settlement.cents_for(7)), Some(350));
    for bound in [1, 100_000] {
        let rules = parsed(&minimal_with(&format!("[settlement]\ntoken_value_cents = {bound}\n")));
        assert_eq!(rules.settlement.map(|settlement| settlement.token_value_cents), Some(bound));
    }
}

#[test]
fn token_value_outside_one_cent_to_a_thousand_euros_is_refused_with_its_line() {
    for value in ["0", "-5", "100001", "9223372036854775807"] {
        let source = minimal_with(&format!("[settlement]\ntoken_value_cents = {value}\n"));
        assert_refused_at(&source, "token_value_cents", "`token_value_cents` in [settlement] must be a whole number");
    }
    let fraction = minimal_with("[settlement]\ntoken_value_cents = 0.5\n");
    assert_refused_at(&fraction, "token_value_cents", "expected a whole number");
}

#[test]
fn settlement_table_without_its_value_or_with_another_key_is_refused_with_its_line() {
    let empty = minimal_with("[settlement]\n");
    assert_refused_at(&empty, "[settlement]", "missing key `token_value_cents` in [settlement]");
    let typo = minimal_with("[settlement]\ntoken_value_cents = 50\ntoken_value_euros = 1\n");
    assert_refused_at(&typo, "token_value_euros", "unknown key `token_value_euros` in [settlement]");
}

#[test]
fn rules_with_a_settlement_round_trip_through_json_without_loss() {
    let rules = parsed(&minimal_with("[settlement]\ntoken_value_cents = 125\n"));
    let json = serde_json::to_value(&rules).expect("rules serialize");
    assert_eq!(json["settlement"]["token_value_cents"], 125);
    assert_eq!(serde_json::from_value::<Rules>(json).expect("rules deserialize"), rules);
}
