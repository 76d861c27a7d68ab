//! French forms of what the pages show: dates as « 12 juillet 2026 » in the territory's time
//! zone, whole numbers grouped with a narrow no-break space (« 1 250 jetons »), and words that
//! agree with their count.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;

/// The time zone the pages show times in: metropolitan France's. The log keeps UTC.
pub const TIME_ZONE: Tz = chrono_tz::Europe::Paris;

/// The start of today in [`TIME_ZONE`], as a UTC instant.
pub fn start_of_today(now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&TIME_ZONE).date_naive();
    local
        .and_hms_opt(0, 0, 0)
        .and_then(|midnight| midnight.and_local_timezone(TIME_ZONE).earliest())
        .map(|start| start.with_timezone(&Utc))
        .unwrap_or(now)
}

const MONTHS: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// « 12 juillet 2026 »; the first of a month is « 1er ».
pub fn date(at: DateTime<Utc>) -> String {
    let at = at.with_timezone(&TIME_ZONE);
    let day = if at.day() == 1 { "1er".to_owned() } else { at.day().to_string() };
    format!("{day} {} {}", MONTHS[at.month0() as usize], at.year())
}

/// « 12 juillet » (the year left out, for near dates).
pub fn day_and_month(at: DateTime<Utc>) -> String {
    let at = at.with_timezone(&TIME_ZONE);
    let day = if at.day() == 1 { "1er".to_owned() } else { at.day().to_string() };
    format!("{day} {}", MONTHS[at.month0() as usize])
}

/// « 12 juillet 2026 à 14 h 05 ».
pub fn date_time(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&TIME_ZONE);
    format!("{} à {} h {:02}", date(at), local.hour(), local.minute())
}

/// « 1 250 » with a narrow no-break space (U+202F) between groups of three digits.
pub fn number(value: u64) -> String {
    let digits = value.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 * 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push('\u{202F}');
        }
        grouped.push(digit);
    }
    grouped
}

/// « 0 jeton », « 1 jeton », « 1 250 jetons »: French takes the singular for 0 and 1.
pub fn count(value: u64, singular: &str, plural: &str) -> String {
    format!("{} {}", number(value), if value <= 1 { singular } else { plural })
}

/// « 1 jeton », « 12 jetons ».
pub fn tokens(value: u64) -> String {
    count(value, "jeton", "jetons")
}

/// Euro cents as « 12,50 € ».
pub fn euros(cents: u64) -> String {
    format!("{},{:02}\u{A0}€", number(cents / 100), cents % 100)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_are_written_the_french_way() {
        assert_eq!(date(Utc.with_ymd_and_hms(2026, 7, 12, 9, 0, 0).unwrap()), "12 juillet 2026");
        assert_eq!(date(Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()), "1er mars 2026");
        assert_eq!(day_and_month(Utc.with_ymd_and_hms(2026, 8, 3, 0, 0, 0).unwrap()), "3 août");
        // Paris time: UTC+1 in winter, UTC+2 in summer; 23:30 UTC on 31 July is 1 August in Paris.
        assert_eq!(date_time(Utc.with_ymd_and_hms(2026, 12, 7, 14, 5, 0).unwrap()), "7 décembre 2026 à 15 h 05");
        assert_eq!(date_time(Utc.with_ymd_and_hms(2026, 7, 31, 23, 30, 0).unwrap()), "1er août 2026 à 1 h 30");
        assert_eq!(
            start_of_today(Utc.with_ymd_and_hms(2026, 12, 7, 23, 30, 0).unwrap()),
            Utc.with_ymd_and_hms(2026, 12, 7, 23, 0, 0).unwrap()
        );
    }

    #[test]
    fn numbers_are_grouped_by_three_with_a_narrow_space_and_words_agree() {
        assert_eq!(number(0), "0");
        assert_eq!(number(999), "999");
        assert_eq!(number(1250), "1\u{202F}250");
        assert_eq!(number(12_345_678), "12\u{202F}345\u{202F}678");
        assert_eq!(tokens(0), "0 jeton");
        assert_eq!(tokens(1), "1 jeton");
        assert_eq!(tokens(1250), "1\u{202F}250 jetons");
        assert_eq!(euros(125_050), "1\u{202F}250,50\u{A0}€");
    }
}
