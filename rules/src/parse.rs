//! From TOML text to checked [`Rules`].
//!
//! Parsing goes in three steps. The TOML syntax is read into a document that remembers where every
//! key and value sits; the document is deserialized into private "raw" structs that refuse unknown
//! keys and keep the spans of the values a later check may complain about; then the raw structs are
//! checked one value at a time and turned into the public model. Each step reports the line it is
//! about, because the person reading the error is editing the file in a text editor.

use std::collections::BTreeMap;
use std::ops::Range;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, Deserializer};

use crate::error::line_of;
use crate::{Badge, Category, GoldRules, IsoDuration, Neighbourhood, Rules, RulesError, SettlementRules};

/// Largest rules file accepted, in bytes (64 KiB).
pub const MAX_SOURCE_BYTES: usize = 64 * 1024;
/// Most `[[categories]]` a file may define.
pub const MAX_CATEGORIES: usize = 200;
/// Most `[[badges]]` a file may define.
pub const MAX_BADGES: usize = 500;
/// Longest id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;
/// Largest token amount, cap or threshold a file may set.
pub const MAX_AMOUNT: u64 = 1_000_000;
/// Longest unit of a category, in characters.
pub const MAX_UNIT_CHARS: usize = 16;

/// Largest value of one token, in euro cents (1,000 €): a larger one is a typo.
pub const MAX_TOKEN_VALUE_CENTS: u64 = 100_000;
/// Most `[[neighbourhoods]]` a file may define.
pub const MAX_NEIGHBOURHOODS: usize = 500;
/// How far back an action may have occurred when the file does not say: 30 days.
pub const DEFAULT_BACKDATE_MAX: IsoDuration = IsoDuration { days: 30, ..IsoDuration::ZERO };
/// Longest lifetime or gold period, in years: a longer one is a typo, and would overflow the
/// calendar long before it ends.
pub const MAX_DURATION_YEARS: u32 = 100;

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a rules file with [tokens], [[categories]] and optionally [gold], [settlement], [[badges]] and [[neighbourhoods]]"
)]
struct RawRules {
    tokens: RawTokens,
    gold: Option<RawGold>,
    settlement: Option<RawSettlement>,
    #[serde(default)]
    categories: Vec<Spanned<RawCategory>>,
    #[serde(default)]
    badges: Vec<Spanned<RawBadge>>,
    #[serde(default)]
    neighbourhoods: Vec<Spanned<RawNeighbourhood>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `lifetime` and optionally `backdate_max`")]
struct RawTokens {
    lifetime: Spanned<String>,
    backdate_max: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `id` and `label`")]
struct RawNeighbourhood {
    id: Spanned<String>,
    label: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `probability` and optionally `period`")]
struct RawGold {
    /// A TOML value rather than `f64` so that `probability = 1` (an integer) is accepted too.
    probability: Spanned<toml::Value>,
    period: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with `token_value_cents`")]
struct RawSettlement {
    token_value_cents: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table with `id`, `label`, `tokens_per_action` and optionally `tokens_per_unit`, `cap_per_citizen_per_month` and `unit`"
)]
struct RawCategory {
    id: Spanned<String>,
    label: Spanned<String>,
    tokens_per_action: Spanned<i64>,
    tokens_per_unit: Option<Spanned<i64>>,
    cap_per_citizen_per_month: Option<Spanned<i64>>,
    unit: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table with `id`, `label`, `category`, `actions_min` or `quantity_min`, and optionally `from` and `to`"
)]
struct RawBadge {
    id: Spanned<String>,
    label: Spanned<String>,
    category: Spanned<String>,
    actions_min: Option<Spanned<i64>>,
    quantity_min: Option<Spanned<i64>>,
    /// A TOML value because an RFC 3339 string and a TOML datetime are both accepted.
    from: Option<Spanned<toml::Value>>,
    to: Option<Spanned<toml::Value>>,
}

pub(crate) fn parse_rules(source: &str) -> Result<Rules, RulesError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(RulesError::whole_file(format!(
            "the rules file is {} bytes long; at most {MAX_SOURCE_BYTES} bytes (64 KiB) are accepted",
            source.len()
        )));
    }
    let document = DeTable::parse(source).map_err(|error| syntax_error(source, &error))?;
    let raw = RawRules::deserialize(Deserializer::from(document.clone()))
        .map_err(|error| shape_error(source, &document, &error))?;
    Checker { source }.rules(raw)
}

fn syntax_error(source: &str, error: &toml::de::Error) -> RulesError {
    let message = format!("TOML syntax error: {}", error.message().trim());
    match error.span() {
        Some(span) => RulesError::at(source, span.start, message),
        None => RulesError::whole_file(message),
    }
}

/// One step of the way from the top of the document to a key or value.
enum Segment {
    Key(String),
    /// An entry of an array, e.g. one `[[categories]]` table; its line says which.
    Entry,
}

/// Rewrites a deserialization error (unknown key, missing key, wrong type) in the file's own
/// terms: the key it is about and the table that key sits in, e.g. `[[categories]]`.
fn shape_error(source: &str, document: &Spanned<DeTable<'_>>, error: &toml::de::Error) -> RulesError {
    let message = error.message().trim();
    let Some(span) = error.span() else {
        return RulesError::whole_file(plain_words(message));
    };
    let mut path = Vec::new();
    let found = span != document.span() && locate_in_table(document.get_ref(), &span, &mut path);
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        // Serde points a missing key at the table that lacks it; the whole document is no line.
        if !found || path.is_empty() {
            let message = if field == "tokens" {
                "missing table [tokens]: it must set the `lifetime` of tokens, e.g. lifetime = \"P6M\"".to_owned()
            } else {
                format!("missing key `{field}` at the top level of the file")
            };
            return RulesError::whole_file(message);
        }
        return RulesError::at(source, span.start, format!("missing key `{field}` {}", table_place(&path)));
    }
    if !found {
        return RulesError::at(source, span.start, plain_words(message));
    }
    let (name, table) = split_key(&path);
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let expected =
            rest.strip_prefix(&format!("`{name}`, ")).map(|expected| format!(" ({expected})")).unwrap_or_default();
        return RulesError::at(source, span.start, format!("unknown key `{name}` {}{expected}", table_place(table)));
    }
    RulesError::at(source, span.start, format!("`{name}` {}: {}", table_place(table), plain_words(message)))
}

/// Finds the key or value of `table` (at any depth) whose span is `span`, leaving its path in
/// `path`.
fn locate_in_table(table: &DeTable<'_>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if key.span() == *span || locate_in_value(value, span, path) {
            return true;
        }
        path.pop();
    }
    false
}

/// Looks inside `value` before matching `value` itself, because an array of tables shares its
/// span with its first table, and the table is the more precise answer.
fn locate_in_value(value: &Spanned<DeValue<'_>>, span: &Range<usize>, path: &mut Vec<Segment>) -> bool {
    let found_inside = match value.get_ref() {
        DeValue::Table(table) => locate_in_table(table, span, path),
        DeValue::Array(items) => items.iter().any(|item| {
            path.push(Segment::Entry);
            let found = locate_in_value(item, span, path);
            if !found {
                path.pop();
            }
            found
        }),
        _ => false,
    };
    found_inside || value.span() == *span
}

/// The last key of `path` and the path of the table holding it.
fn split_key(path: &[Segment]) -> (&str, &[Segment]) {
    for (position, segment) in path.iter().enumerate().rev() {
        if let Segment::Key(key) = segment {
            return (key, &path[..position]);
        }
    }
    ("", &[])
}

/// Where the table at `path` is, in the file's words: "in [tokens]", "in [[categories]]", or "at
/// the top level of the file".
fn table_place(path: &[Segment]) -> String {
    let keys: Vec<&str> = path
        .iter()
        .filter_map(|segment| match segment {
            Segment::Key(key) => Some(key.as_str()),
            Segment::Entry => None,
        })
        .collect();
    if keys.is_empty() {
        "at the top level of the file".to_owned()
    } else if matches!(path.last(), Some(Segment::Entry)) {
        format!("in [[{}]]", keys.join("."))
    } else {
        format!("in [{}]", keys.join("."))
    }
}

/// Replaces Rust type names in serde's messages with words an administrator knows.
fn plain_words(message: &str) -> String {
    message
        .replace("expected i64", "expected a whole number")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("invalid type: map", "invalid type: table")
}

/// Checks the raw values one by one; knows the source only to turn spans into lines.
struct Checker<'source> {
    source: &'source str,
}

impl Checker<'_> {
    fn error(&self, span: Range<usize>, message: impl Into<String>) -> RulesError {
        RulesError::at(self.source, span.start, message)
    }

    fn rules(&self, raw: RawRules) -> Result<Rules, RulesError> {
        let lifetime = self.duration(&raw.tokens.lifetime, "`lifetime` in [tokens]")?;
        let backdate_max = match &raw.tokens.backdate_max {
            Some(backdate_max) => self.duration(backdate_max, "`backdate_max` in [tokens]")?,
            None => DEFAULT_BACKDATE_MAX,
        };
        let gold = raw.gold.map(|gold| self.gold(gold)).transpose()?;
        let settlement = raw.settlement.map(|settlement| self.settlement(&settlement)).transpose()?;

        if raw.categories.is_empty() {
            return Err(RulesError::whole_file(
                "the file defines no category: add at least one [[categories]] table with `id`, `label` and `tokens_per_action`",
            ));
        }
        if let Some(extra) = raw.categories.get(MAX_CATEGORIES) {
            return Err(self.error(
                extra.span(),
                format!("too many categories: at most {MAX_CATEGORIES} [[categories]] are accepted"),
            ));
        }
        if let Some(extra) = raw.badges.get(MAX_BADGES) {
            return Err(
                self.error(extra.span(), format!("too many badges: at most {MAX_BADGES} [[badges]] are accepted"))
            );
        }

        if let Some(extra) = raw.neighbourhoods.get(MAX_NEIGHBOURHOODS) {
            return Err(self.error(
                extra.span(),
                format!("too many neighbourhoods: at most {MAX_NEIGHBOURHOODS} [[neighbourhoods]] are accepted"),
            ));
        }

        let mut category_lines = BTreeMap::new();
        let mut categories = Vec::with_capacity(raw.categories.len());
        for category in raw.categories {
            let category = self.category(category.into_inner())?;
            if let Some(first_line) = category_lines.get(&category.value.id) {
                return Err(self.error(
                    category.id_span,
                    format!(
                        "duplicate category id `{}`: it is already defined on line {first_line}",
                        category.value.id
                    ),
                ));
            }
            category_lines.insert(category.value.id.clone(), line_of(self.source, category.id_span.start));
            categories.push(category.value);
        }

        let mut badge_lines = BTreeMap::new();
        let mut badges = Vec::with_capacity(raw.badges.len());
        for badge in raw.badges {
            let (badge, _category_span) = self.badge(badge)?;
            if let Some(first_line) = badge_lines.get(&badge.value.id) {
                return Err(self.error(
                    badge.id_span,
                    format!("duplicate badge id `{}`: it is already defined on line {first_line}", badge.value.id),
                ));
            }
            // A badge may name a category these rules do not define (docs/api.md's own example does):
            // it is kept, and simply cannot be earned until a version defines the category.
            badge_lines.insert(badge.value.id.clone(), line_of(self.source, badge.id_span.start));
            badges.push(badge.value);
        }

        let mut neighbourhood_lines = BTreeMap::new();
        let mut neighbourhoods = Vec::with_capacity(raw.neighbourhoods.len());
        for neighbourhood in raw.neighbourhoods {
            const TABLE: &str = "[[neighbourhoods]]";
            let raw = neighbourhood.into_inner();
            let id = self.id(&raw.id, TABLE)?;
            let label = self.label(&raw.label, TABLE)?;
            if let Some(first_line) = neighbourhood_lines.get(&id) {
                return Err(self.error(
                    raw.id.span(),
                    format!("duplicate neighbourhood id `{id}`: it is already defined on line {first_line}"),
                ));
            }
            neighbourhood_lines.insert(id.clone(), line_of(self.source, raw.id.span().start));
            neighbourhoods.push(Neighbourhood { id, label });
        }

        Ok(Rules { lifetime, backdate_max, gold, settlement, categories, badges, neighbourhoods })
    }

    fn gold(&self, raw: RawGold) -> Result<GoldRules, RulesError> {
        let out_of_range = || {
            self.error(
                raw.probability.span(),
                "`probability` in [gold] must be a number between 0 and 1, e.g. 0.05 for a 5% chance",
            )
        };
        let probability = match raw.probability.get_ref() {
            toml::Value::Float(probability) => *probability,
            toml::Value::Integer(0) => 0.0,
            toml::Value::Integer(1) => 1.0,
            _ => return Err(out_of_range()),
        };
        // NaN fails `contains`; the infinities are outside the range.
        if !(0.0..=1.0).contains(&probability) {
            return Err(out_of_range());
        }
        let period = match &raw.period {
            Some(period) => self.duration(period, "`period` in [gold]")?,
            None => IsoDuration { months: 1, ..IsoDuration::default() },
        };
        Ok(GoldRules { probability, period })
    }

    fn settlement(&self, raw: &RawSettlement) -> Result<SettlementRules, RulesError> {
        let value = &raw.token_value_cents;
        let token_value_cents = u64::try_from(*value.get_ref())
            .ok()
            .filter(|cents| (1..=MAX_TOKEN_VALUE_CENTS).contains(cents))
            .ok_or_else(|| {
                self.error(
                    value.span(),
                    format!(
                        "`token_value_cents` in [settlement] must be a whole number from 1 to {MAX_TOKEN_VALUE_CENTS}: \
                         the value of one token in euro cents, e.g. 50 for 0.50 €"
                    ),
                )
            })?;
        Ok(SettlementRules { token_value_cents })
    }

    /// A checked category, with the span of its id kept to report a duplicate.
    fn category(&self, raw: RawCategory) -> Result<Located<Category>, RulesError> {
        const TABLE: &str = "[[categories]]";
        let id = self.id(&raw.id, TABLE)?;
        let label = self.label(&raw.label, TABLE)?;
        let tokens_per_action = self.amount(&raw.tokens_per_action, "tokens_per_action", TABLE)?;
        let tokens_per_unit = raw
            .tokens_per_unit
            .as_ref()
            .map(|amount| self.amount(amount, "tokens_per_unit", TABLE))
            .transpose()?
            .unwrap_or(0);
        let cap_per_citizen_per_month = raw
            .cap_per_citizen_per_month
            .as_ref()
            .map(|amount| self.amount(amount, "cap_per_citizen_per_month", TABLE))
            .transpose()?;
        let unit = raw.unit.as_ref().map(|unit| self.unit(unit)).transpose()?;
        Ok(Located {
            id_span: raw.id.span(),
            value: Category { id, label, tokens_per_action, tokens_per_unit, cap_per_citizen_per_month, unit },
        })
    }

    /// A category's unit: one line of 1 to [`MAX_UNIT_CHARS`] characters, such as `km`.
    fn unit(&self, unit: &Spanned<String>) -> Result<String, RulesError> {
        let text = unit.get_ref();
        let length = text.chars().count();
        if text.trim().is_empty() || length > MAX_UNIT_CHARS {
            return Err(self.error(
                unit.span(),
                format!(
                    "`unit` in [[categories]] must be 1 to {MAX_UNIT_CHARS} characters long, such as \"km\", not {length}"
                ),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(self.error(
                unit.span(),
                "`unit` in [[categories]] must fit on one line, without tabs or other control characters",
            ));
        }
        Ok(text.clone())
    }

    /// A checked badge, and the span of its `category` to report a category no one defines.
    fn badge(&self, raw: Spanned<RawBadge>) -> Result<(Located<Badge>, Range<usize>), RulesError> {
        const TABLE: &str = "[[badges]]";
        let header = raw.span();
        let raw = raw.into_inner();
        let id = self.id(&raw.id, TABLE)?;
        let label = self.label(&raw.label, TABLE)?;
        let actions_min =
            raw.actions_min.as_ref().map(|threshold| self.threshold(threshold, "actions_min")).transpose()?;
        let quantity_min =
            raw.quantity_min.as_ref().map(|threshold| self.threshold(threshold, "quantity_min")).transpose()?;
        if actions_min.is_none() && quantity_min.is_none() {
            return Err(self.error(
                header,
                format!("badge `{id}` sets no threshold: give it `actions_min`, `quantity_min` or both"),
            ));
        }
        let from = raw.from.as_ref().map(|instant| self.instant(instant, "from")).transpose()?;
        let to = raw.to.as_ref().map(|instant| self.instant(instant, "to")).transpose()?;
        if let (Some(from), Some(to), Some(to_span)) = (from, to, raw.to.as_ref().map(Spanned::span))
            && from >= to
        {
            return Err(self.error(
                to_span,
                format!(
                    "badge `{id}` has `to` ({}) not after `from` ({}): the window must end after it starts",
                    to.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    from.to_rfc3339_opts(SecondsFormat::AutoSi, true)
                ),
            ));
        }
        let category_span = raw.category.span();
        let located = Located {
            id_span: raw.id.span(),
            value: Badge { id, label, category: raw.category.into_inner(), actions_min, quantity_min, from, to },
        };
        Ok((located, category_span))
    }

    fn duration(&self, text: &Spanned<String>, name: &str) -> Result<IsoDuration, RulesError> {
        let duration = IsoDuration::parse(text.get_ref())
            .map_err(|error| self.error(text.span(), format!("{name} is not an ISO 8601 duration: {error}")))?;
        if duration.is_zero() {
            return Err(self.error(text.span(), format!("{name} must be longer than zero, e.g. \"P6M\" or \"PT30S\"")));
        }
        let limit = IsoDuration { years: MAX_DURATION_YEARS, ..IsoDuration::default() };
        let start = DateTime::<Utc>::UNIX_EPOCH;
        let within_limit = match (duration.add_to(start), limit.add_to(start)) {
            (Some(end), Some(limit_end)) => end <= limit_end,
            _ => false,
        };
        if !within_limit {
            return Err(self.error(text.span(), format!("{name} is too long: at most {MAX_DURATION_YEARS} years")));
        }
        Ok(duration)
    }

    fn id(&self, id: &Spanned<String>, table: &str) -> Result<String, RulesError> {
        let text = id.get_ref();
        let length = text.chars().count();
        if !(1..=MAX_ID_CHARS).contains(&length) {
            return Err(self.error(
                id.span(),
                format!("`id` in {table} must be 1 to {MAX_ID_CHARS} characters long, not {length}"),
            ));
        }
        let mut characters = text.chars();
        let first_is_valid =
            characters.next().is_some_and(|first| first.is_ascii_lowercase() || first.is_ascii_digit());
        let rest_is_valid = characters.all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_' || character == '-'
        });
        if !(first_is_valid && rest_is_valid) {
            return Err(self.error(
                id.span(),
                format!(
                    "`id` in {table} is {text:?}; use only lowercase letters a-z without accents, digits, `-` and `_`, starting with a letter or a digit, e.g. \"ecologie\""
                ),
            ));
        }
        Ok(text.clone())
    }

    fn label(&self, label: &Spanned<String>, table: &str) -> Result<String, RulesError> {
        let text = label.get_ref();
        let length = text.chars().count();
        if text.trim().is_empty() {
            return Err(self.error(label.span(), format!("`label` in {table} must not be empty")));
        }
        if length > MAX_LABEL_CHARS {
            return Err(self.error(
                label.span(),
                format!("`label` in {table} is {length} characters long; at most {MAX_LABEL_CHARS} are accepted"),
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(self.error(
                label.span(),
                format!("`label` in {table} must fit on one line, without tabs or other control characters"),
            ));
        }
        Ok(text.clone())
    }

    /// A token amount or cap: a whole number from 0 to [`MAX_AMOUNT`].
    fn amount(&self, amount: &Spanned<i64>, name: &str, table: &str) -> Result<u64, RulesError> {
        self.bounded(amount, 0, name, table)
    }

    /// A badge threshold: a whole number from 1 to [`MAX_AMOUNT`].
    fn threshold(&self, threshold: &Spanned<i64>, name: &str) -> Result<u64, RulesError> {
        let value = *threshold.get_ref();
        if value <= 0 {
            return Err(self.error(
                threshold.span(),
                format!(
                    "`{name}` in [[badges]] must be at least 1: a threshold of {value} would award the badge without any action"
                ),
            ));
        }
        self.bounded(threshold, 1, name, "[[badges]]")
    }

    fn bounded(&self, number: &Spanned<i64>, minimum: u64, name: &str, table: &str) -> Result<u64, RulesError> {
        u64::try_from(*number.get_ref()).ok().filter(|value| (minimum..=MAX_AMOUNT).contains(value)).ok_or_else(|| {
            self.error(
                number.span(),
                format!("`{name}` in {table} must be a whole number from {minimum} to {MAX_AMOUNT}"),
            )
        })
    }

    fn instant(&self, instant: &Spanned<toml::Value>, name: &str) -> Result<DateTime<Utc>, RulesError> {
        let refused = || {
            self.error(
                instant.span(),
                format!(
                    "`{name}` in [[badges]] must be a date and time with its offset (RFC 3339), e.g. \"2026-07-01T00:00:00Z\" for midnight UTC"
                ),
            )
        };
        let text = match instant.get_ref() {
            toml::Value::String(text) => text.clone(),
            toml::Value::Datetime(datetime)
                if datetime.date.is_some() && datetime.time.is_some() && datetime.offset.is_some() =>
            {
                datetime.to_string()
            }
            _ => return Err(refused()),
        };
        DateTime::parse_from_rfc3339(&text).map(|instant| instant.with_timezone(&Utc)).map_err(|_| refused())
    }
}

/// A checked entry with the span of its id, to report a duplicate.
struct Located<T> {
    value: T,
    id_span: Range<usize>,
}
