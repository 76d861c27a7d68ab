//! Numbers and words as French and English write them.

/// `12345` as `12 345` (French) or `12,345` (English).
fn grouped(value: u64, separator: char) -> String {
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

pub(crate) fn fr(value: u64) -> String {
    grouped(value, ' ')
}

/// A French count: 0 and 1 take the singular.
pub(crate) fn fr_count(value: u64, singular: &str, plural: &str) -> String {
    format!("{} {}", fr(value), if value < 2 { singular } else { plural })
}

/// "Habitant·e du Centre", "de Plaisance", "des Rives"…
pub(crate) fn of_neighbourhood(name: &str) -> String {
    match name {
        "Centre" => "du Centre".to_owned(),
        "Gare" => "de la Gare".to_owned(),
        "Les Rives" => "des Rives".to_owned(),
        "Quartier Nord" => "du Quartier Nord".to_owned(),
        other => format!("de {other}"),
    }
}

pub(crate) fn en(value: u64) -> String {
    grouped(value, ',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(1234567, ' '), "1 234 567");
        assert_eq!(grouped(999, ','), "999");
    }
}
