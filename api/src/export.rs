//! Tables a person opens in a spreadsheet: statements and dashboards answer `?format=csv` or
//! `?format=xlsx` with the same figures as their JSON, as a file to download.
//!
//! A handler builds a [`Table`] (column names, then rows of typed [`Cell`]s) and hands it to
//! [`FileFormat::download`]; [`file_format`] reads the `format` query parameter. CSV is RFC 4180:
//! comma-separated, UTF-8 without a byte-order mark, CRLF line ends, a field quoted only when it
//! holds a comma, a quote or a line break. XLSX has a bold header row that stays in view, numbers
//! as numbers, instants as dates (UTC) and columns as wide as their contents. Both are built
//! whole in memory, like the JSON answers: a table is at most one worksheet,
//! [`MAX_ROWS`] rows.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};

use crate::error::ApiError;

/// The most data rows one table holds: a worksheet's rows, less the header.
pub const MAX_ROWS: usize = 1_048_575;

/// The media type of an XLSX workbook.
pub const XLSX_CONTENT_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// The media type of the CSV files.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// One cell of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    Text(String),
    Integer(u64),
    /// A number with one decimal, given in tenths (a percentage such as 66.7): `66.7` in CSV, the
    /// number 66.7 in XLSX.
    Tenths(u64),
    /// An instant: RFC 3339 in CSV (as in JSON answers), a date and time (UTC) in XLSX.
    DateTime(DateTime<Utc>),
    /// No value (a JSON `null`): an empty field.
    Empty,
}

impl From<Option<u64>> for Cell {
    fn from(value: Option<u64>) -> Cell {
        value.map_or(Cell::Empty, Cell::Integer)
    }
}

/// A table: its sheet's name, its columns, and rows with one cell per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    sheet: &'static str,
    columns: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table. `sheet` names the XLSX worksheet: at most 31 characters, none of `[]:*?/\`.
    pub fn new(sheet: &'static str, columns: &[&'static str]) -> Table {
        assert!(
            (1..=31).contains(&sheet.chars().count()) && !sheet.contains(['[', ']', ':', '*', '?', '/', '\\']),
            "`{sheet}` is not a worksheet name"
        );
        Table { sheet, columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; it must have one cell per column.
    pub fn push(&mut self, row: Vec<Cell>) {
        assert_eq!(row.len(), self.columns.len(), "a row of table `{}` has one cell per column", self.sheet);
        self.rows.push(row);
    }

    /// The table as CSV text.
    pub fn csv(&self) -> String {
        let mut text = String::new();
        let header: Vec<String> = self.columns.iter().map(|column| csv_field(column)).collect();
        text.push_str(&header.join(","));
        text.push_str("\r\n");
        for row in &self.rows {
            let fields: Vec<String> = row
                .iter()
                .map(|cell| match cell {
                    Cell::Text(text) => csv_field(text),
                    Cell::Integer(number) => number.to_string(),
                    Cell::Tenths(tenths) => format!("{}.{}", tenths / 10, tenths % 10),
                    Cell::DateTime(instant) => instant.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                    Cell::Empty => String::new(),
                })
                .collect();
            text.push_str(&fields.join(","));
            text.push_str("\r\n");
        }
        text
    }

    /// The table as an XLSX workbook of one worksheet.
    pub fn xlsx(&self) -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{Format, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name(self.sheet)?;
        let bold = Format::new().set_bold();
        let date_time = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
        for (column, name) in (0u16..).zip(&self.columns) {
            sheet.write_string_with_format(0, column, *name, &bold)?;
        }
        for (row, cells) in (1u32..).zip(&self.rows) {
            for (column, cell) in (0u16..).zip(cells) {
                match cell {
                    Cell::Text(text) => {
                        sheet.write_string(row, column, text)?;
                    }
                    // Exact up to 2^53, far beyond any count or amount of cents Ygor holds.
                    Cell::Integer(number) => {
                        sheet.write_number(row, column, *number as f64)?;
                    }
                    Cell::Tenths(tenths) => {
                        sheet.write_number(row, column, *tenths as f64 / 10.0)?;
                    }
                    Cell::DateTime(instant) => {
                        sheet.write_datetime_with_format(row, column, instant.naive_utc(), &date_time)?;
                    }
                    Cell::Empty => {}
                }
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        sheet.autofit();
        workbook.save_to_buffer()
    }
}

/// RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// A file format a table can be downloaded in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Xlsx,
}

/// The `format` query parameter: `None` for `json` (the default), else the file asked for; any
/// other value is `400 validation_failed`.
pub fn file_format(format: Option<&str>) -> Result<Option<FileFormat>, ApiError> {
    match format {
        None | Some("json") => Ok(None),
        Some("csv") => Ok(Some(FileFormat::Csv)),
        Some("xlsx") => Ok(Some(FileFormat::Xlsx)),
        Some(other) => Err(ApiError::validation(format!("format is `{other}`; it must be json, csv or xlsx"))),
    }
}

impl FileFormat {
    /// `table` as a file named `name` plus the format's extension, to download
    /// (`Content-Disposition: attachment`). `name` is ASCII letters, digits, `-` and `_`.
    pub fn download(self, table: &Table, name: &str) -> Result<Response, ApiError> {
        assert!(
            name.chars().all(|character| character.is_ascii_alphanumeric() || character == '-' || character == '_'),
            "`{name}` is not a file name that needs no quoting"
        );
        if table.rows.len() > MAX_ROWS {
            return Err(ApiError::validation(format!(
                "the table has {} rows, more than a worksheet holds ({MAX_ROWS}); ask for a shorter period",
                table.rows.len()
            )));
        }
        let (content_type, extension, body) = match self {
            FileFormat::Csv => (CSV_CONTENT_TYPE, "csv", table.csv().into_bytes()),
            FileFormat::Xlsx => {
                let bytes = table.xlsx().map_err(|error| {
                    tracing::error!(%error, sheet = table.sheet, "an XLSX export could not be written");
                    ApiError::internal()
                })?;
                (XLSX_CONTENT_TYPE, "xlsx", bytes)
            }
        };
        let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{extension}\""))
            .expect("an ASCII file name is a header value");
        Ok((
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            body,
        )
            .into_response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let mut table = Table::new("essai", &["key", "count", "at", "cents"]);
        table.push(vec![
            Cell::Text("Vélo, « club »".to_owned()),
            Cell::Integer(3),
            Cell::DateTime(DateTime::from_timestamp(1_780_000_000, 0).expect("a time")),
            Cell::Empty,
        ]);
        table.push(vec![
            Cell::Text("dit \"oui\"\nou non".to_owned()),
            Cell::Integer(0),
            Cell::Empty,
            Cell::Integer(350),
        ]);
        table
    }

    #[test]
    fn csv_quotes_only_what_needs_it_and_ends_lines_with_crlf() {
        assert_eq!(
            table().csv(),
            "key,count,at,cents\r\n\"Vélo, « club »\",3,2026-05-28T20:26:40Z,\r\n\"dit \"\"oui\"\"\nou non\",0,,350\r\n"
        );
    }

    #[test]
    fn an_empty_table_is_its_header() {
        assert_eq!(Table::new("vide", &["a", "b"]).csv(), "a,b\r\n");
    }

    #[test]
    fn a_workbook_is_a_zip_archive() {
        let bytes = table().xlsx().expect("a workbook");
        assert!(bytes.starts_with(b"PK\x03\x04"), "an XLSX file is a ZIP archive");
    }

    #[test]
    fn the_format_parameter_is_json_csv_or_xlsx() {
        assert_eq!(file_format(None).expect("default"), None);
        assert_eq!(file_format(Some("json")).expect("json"), None);
        assert_eq!(file_format(Some("csv")).expect("csv"), Some(FileFormat::Csv));
        assert_eq!(file_format(Some("xlsx")).expect("xlsx"), Some(FileFormat::Xlsx));
        let refused = file_format(Some("XLSX")).expect_err("case matters");
        assert_eq!(refused.code, "validation_failed");
        assert!(refused.detail.contains("json, csv or xlsx"), "{}", refused.detail);
    }

    #[test]
    #[should_panic(expected = "one cell per column")]
    fn a_row_without_a_cell_per_column_is_a_defect() {
        Table::new("essai", &["a", "b"]).push(vec![Cell::Integer(1)]);
    }
}
