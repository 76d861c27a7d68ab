//! Bar charts drawn on the server as SVG, for pages that must work without JavaScript. A chart is
//! an image with a text alternative; its figures are always in a data table beside it (the chart
//! says so), so nothing is only visual.

use std::fmt::Write as _;

use crate::web::format;

/// One bar: its label, its value, and the text shown for the value (« 12 », « < 5 »).
pub struct Bar {
    pub label: String,
    pub value: u64,
    pub shown: String,
}

const WIDTH: u32 = 420;
const BAR_HEIGHT: u32 = 22;
const GAP: u32 = 8;
const LABEL_WIDTH: u32 = 150;
const VALUE_WIDTH: u32 = 60;

/// A horizontal bar chart: `title` is its accessible name, `bars` its rows in order.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    let largest = bars.iter().map(|bar| bar.value).max().unwrap_or(0).max(1);
    let height = (bars.len() as u32).max(1) * (BAR_HEIGHT + GAP) + GAP;
    let span = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\">",
        escape(&format!("{title} (les valeurs sont dans le tableau qui suit)"))
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = GAP + index as u32 * (BAR_HEIGHT + GAP);
        let length = ((bar.value as f64 / largest as f64) * f64::from(span)).round().max(2.0) as u32;
        let middle = y + BAR_HEIGHT / 2 + 5;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{middle}\" text-anchor=\"end\" class=\"chart-label\">{}</text>\
             <rect x=\"{LABEL_WIDTH}\" y=\"{y}\" width=\"{length}\" height=\"{BAR_HEIGHT}\" rx=\"4\" class=\"chart-bar\"/>\
             <text x=\"{}\" y=\"{middle}\" class=\"chart-value\">{}</text>",
            LABEL_WIDTH - 8,
            escape(&shorten(&bar.label, 20)),
            LABEL_WIDTH + length + 6,
            escape(&bar.shown),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A count as the public may see it: hidden (« < 5 ») under `threshold`, so that a small group
/// of people cannot be singled out.
pub fn public_count(value: u64, threshold: u64) -> String {
    if value > 0 && value < threshold { format!("< {threshold}") } else { format::number(value) }
}

fn shorten(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(most - 1).collect();
        short.push('…');
        short
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_an_image_named_for_its_table_with_a_bar_per_row_scaled_to_the_largest() {
        let rows = [
            Bar { label: "Écologie".to_owned(), value: 40, shown: "40".to_owned() },
            Bar { label: "Aide & <partage>".to_owned(), value: 10, shown: "10".to_owned() },
        ];
        let svg = bars("Actions par catégorie", &rows);
        assert!(svg.starts_with("<svg") && svg.contains("role=\"img\""));
        assert!(svg.contains("aria-label=\"Actions par catégorie (les valeurs sont dans le tableau qui suit)\""));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("width=\"210\"") && svg.contains("width=\"53\""), "{svg}");
        assert!(svg.contains("Aide &amp; &lt;partage&gt;"));
    }

    #[test]
    fn small_public_counts_are_hidden() {
        assert_eq!(public_count(0, 5), "0");
        assert_eq!(public_count(3, 5), "< 5");
        assert_eq!(public_count(5, 5), "5");
        assert_eq!(public_count(1250, 5), "1\u{202F}250");
    }
}
