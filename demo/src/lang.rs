//! The two languages the demo speaks, and its wordings: each sentence is written once with its
//! French and English wording side by side, and values (numbers, counts, dates) are put in as
//! each language writes them: "12 345 jetons", "12,345 tokens", "1 badge", "0 badge" (French) and
//! "0 badges" (English).

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    French,
    English,
}

impl Lang {
    /// `12345` as `12 345` (French) or `12,345` (English).
    pub(crate) fn number(self, value: u64) -> String {
        let separator = match self {
            Lang::French => ' ',
            Lang::English => ',',
        };
        let digits = value.to_string();
        let mut text = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index).is_multiple_of(3) {
                text.push(separator);
            }
            text.push(digit);
        }
        text
    }

    /// A number and its noun: French takes the singular for 0 and 1, English for 1 only.
    pub(crate) fn count(self, value: u64, singular: &str, plural: &str) -> String {
        let takes_singular = match self {
            Lang::French => value <= 1,
            Lang::English => value == 1,
        };
        let noun = if takes_singular { singular } else { plural };
        format!("{} {noun}", self.number(value))
    }

    /// A day: `22/11/2026` (French) or `2026-11-22` (English).
    pub(crate) fn date(self, at: DateTime<Utc>) -> String {
        let format = match self {
            Lang::French => "%d/%m/%Y",
            Lang::English => "%Y-%m-%d",
        };
        at.format(format).to_string()
    }

    /// Seconds to a tenth: `12,3` (French) or `12.3` (English).
    pub(crate) fn seconds(self, seconds: f64) -> String {
        let text = format!("{seconds:.1}");
        match self {
            Lang::French => text.replace('.', ","),
            Lang::English => text,
        }
    }
}

/// A sentence in both languages. `{name}` stands for the value of that name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wording {
    pub(crate) french: &'static str,
    pub(crate) english: &'static str,
}

/// A noun in both languages, singular then plural.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Noun {
    pub(crate) french: (&'static str, &'static str),
    pub(crate) english: (&'static str, &'static str),
}

/// A value to put in a wording, written as the language writes it.
#[derive(Debug, Clone)]
pub(crate) enum Value<'a> {
    Number(u64),
    Count(u64, Noun),
    Date(DateTime<Utc>),
    Seconds(f64),
    /// A neighbourhood after "Habitant·e" / "Citizen of": "du Centre", "de la Gare" / "Centre".
    Neighbourhood(&'a str),
    /// Words that read the same in both languages: names, ids, tokens, paths, commands.
    Text(&'a str),
    /// A share with one decimal: "2,5 %" / "2.5%".
    Percent(f64),
    /// Euros, from cents: "1 234,50 €" / "€1,234.50".
    Cents(u64),
}

impl Value<'_> {
    fn write(&self, lang: Lang) -> String {
        match self {
            Value::Number(value) => lang.number(*value),
            Value::Count(value, noun) => {
                let (singular, plural) = match lang {
                    Lang::French => noun.french,
                    Lang::English => noun.english,
                };
                lang.count(*value, singular, plural)
            }
            Value::Date(at) => lang.date(*at),
            Value::Seconds(seconds) => lang.seconds(*seconds),
            Value::Neighbourhood(name) => match lang {
                Lang::French => of_neighbourhood(name),
                Lang::English => (*name).to_owned(),
            },
            Value::Text(text) => (*text).to_owned(),
            Value::Cents(cents) => {
                let (euros, cents) = (lang.number(cents / 100), cents % 100);
                match lang {
                    Lang::French => format!("{euros},{cents:02} €"),
                    Lang::English => format!("€{euros}.{cents:02}"),
                }
            }
            Value::Percent(share) => match lang {
                Lang::French => format!("{share:.1} %").replace('.', ","),
                Lang::English => format!("{share:.1}%"),
            },
        }
    }
}

/// "Habitant·e du Centre", "de Plaisance", "des Rives"…
fn of_neighbourhood(name: &str) -> String {
    match name {
        "Centre" => "du Centre".to_owned(),
        "Gare" => "de la Gare".to_owned(),
        "Les Rives" => "des Rives".to_owned(),
        "Quartier Nord" => "du Quartier Nord".to_owned(),
        other => format!("de {other}"),
    }
}

impl Wording {
    /// The wording in `lang` with each `{name}` replaced by its value. A name without a value,
    /// or a value no wording names, is a mistake in the demo's code and panics.
    pub(crate) fn render(&self, lang: Lang, values: &[(&str, Value<'_>)]) -> String {
        let template = match lang {
            Lang::French => self.french,
            Lang::English => self.english,
        };
        let mut text = String::with_capacity(template.len() + 64);
        let mut used = vec![false; values.len()];
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = open + rest[open..].find('}').unwrap_or_else(|| panic!("an unclosed {{ in {template:?}"));
            let name = &rest[open + 1..close];
            let index = values
                .iter()
                .position(|(key, _)| *key == name)
                .unwrap_or_else(|| panic!("no value for {{{name}}} in {template:?}"));
            used[index] = true;
            text.push_str(&rest[..open]);
            text.push_str(&values[index].1.write(lang));
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        if let Some(unused) = used.iter().position(|used| !used) {
            panic!("{template:?} does not use the value {:?}", values[unused].0);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_as_each_language_groups_them() {
        assert_eq!(Lang::French.number(1_234_567), "1 234 567");
        assert_eq!(Lang::English.number(1_234_567), "1,234,567");
        assert_eq!(Lang::English.number(999), "999");
        assert_eq!(Lang::French.seconds(12.34), "12,3");
        assert_eq!(Lang::English.seconds(12.34), "12.3");
    }

    #[test]
    fn counts_take_the_singular_as_each_language_does() {
        assert_eq!(Lang::French.count(0, "badge", "badges"), "0 badge");
        assert_eq!(Lang::French.count(1, "badge", "badges"), "1 badge");
        assert_eq!(Lang::French.count(2_000, "badge", "badges"), "2 000 badges");
        assert_eq!(Lang::English.count(0, "badge", "badges"), "0 badges");
        assert_eq!(Lang::English.count(1, "badge", "badges"), "1 badge");
    }

    #[test]
    fn a_wording_is_rendered_in_either_language_from_the_same_values() {
        let wording = Wording {
            french: "Habitant·e {place} : {tokens}, le {day}.",
            english: "Citizen of {place}: {tokens}, on {day}.",
        };
        let tokens = Noun { french: ("jeton", "jetons"), english: ("token", "tokens") };
        let day = DateTime::from_timestamp(1_780_000_000, 0).expect("a valid time");
        let values = [
            ("place", Value::Neighbourhood("Les Rives")),
            ("tokens", Value::Count(12_345, tokens)),
            ("day", Value::Date(day)),
        ];
        assert_eq!(wording.render(Lang::French, &values), "Habitant·e des Rives : 12 345 jetons, le 28/05/2026.");
        assert_eq!(wording.render(Lang::English, &values), "Citizen of Les Rives: 12,345 tokens, on 2026-05-28.");
    }

    #[test]
    #[should_panic(expected = "no value for {missing}")]
    fn a_wording_that_names_a_missing_value_is_a_mistake() {
        Wording { french: "{missing}", english: "" }.render(Lang::French, &[]);
    }
}
