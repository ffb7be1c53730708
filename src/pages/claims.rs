//! Claims and userinfo fields as readable tables: times also as UTC dates, nested values
//! as formatted JSON, everything escaped by the template.

use crate::oidc::json::{Object, Value};
use maud::{html, Markup};

/// Registered claims whose numbers are seconds since the epoch (RFC 7519 §4.1, OIDC Core §2).
const TIME_CLAIMS: &[&str] = &["exp", "iat", "nbf", "auth_time", "updated_at"];

pub fn table(fields: &Object) -> Markup {
    html! {
        div.table-wrap {
            table {
                tbody {
                    @for (name, value) in fields {
                        tr {
                            th scope="row" { (name) }
                            td { (cell(name, value)) }
                        }
                    }
                }
            }
        }
    }
}

fn cell(name: &str, value: &Value) -> Markup {
    match value {
        Value::Number(n) if TIME_CLAIMS.contains(&name) => match n.as_i64() {
            Some(secs) => html! { (secs) small { (utc(secs)) } },
            None => html! { (n) },
        },
        Value::String(s) => html! { (s) },
        Value::Array(_) | Value::Object(_) => {
            // A JSON value always serialises: its keys are strings.
            html! { pre { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
        }
        other => html! { (other) },
    }
}

/// Instants shown as dates: 0000-01-01 00:00:00 to 9999-12-31 23:59:59 UTC (four-digit years).
const SHOWN_SECS: std::ops::RangeInclusive<i64> = -62_167_219_200..=253_402_300_799;

/// `2026-11-28 09:30:00 UTC`, or the raw number outside years 0000..=9999 (where chrono
/// would write a sign and more digits).
pub fn utc(secs: i64) -> String {
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(time) if SHOWN_SECS.contains(&secs) => {
            time.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        }
        _ => secs.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_get_a_date_and_nested_values_are_pretty_json() {
        let fields =
            json!({"exp": 0, "address": {"country": "<FR>"}, "list": [1, 2], "flag": true});
        let html = table(fields.as_object().unwrap()).into_string();
        assert!(html.contains("1970-01-01 00:00:00 UTC"));
        assert!(html.contains("&quot;country&quot;: &quot;&lt;FR&gt;&quot;"));
        assert!(html.contains("<pre>"));
        assert!(html.contains("<td>true</td>"));
    }

    #[test]
    fn absurd_times_do_not_panic() {
        assert_eq!(utc(i64::MAX), i64::MAX.to_string());
        let fields = json!({"exp": 1e300, "iat": -5});
        let html = table(fields.as_object().unwrap()).into_string();
        assert!(html.contains("1969-12-31 23:59:55 UTC"));
    }

    #[test]
    fn dates_are_exact_across_the_shown_range() {
        // Day boundaries, leap years and the century rules, and both ends of the range.
        for (secs, date) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (59, "1970-01-01 00:00:59 UTC"),
            (86_399, "1970-01-01 23:59:59 UTC"),
            (86_400, "1970-01-02 00:00:00 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (951_868_800, "2000-03-01 00:00:00 UTC"),
            (4_107_456_000, "2100-02-28 00:00:00 UTC"),
            (4_107_542_400, "2100-03-01 00:00:00 UTC"),
            (4_107_628_800, "2100-03-02 00:00:00 UTC"),
            (1_795_858_200, "2026-11-28 09:30:00 UTC"),
            (*SHOWN_SECS.start(), "0000-01-01 00:00:00 UTC"),
            (*SHOWN_SECS.end(), "9999-12-31 23:59:59 UTC"),
        ] {
            assert_eq!(utc(secs), date, "{secs}");
        }
        // Four-digit years, no sign, the same shape everywhere in between.
        for secs in SHOWN_SECS.step_by(7_777_777) {
            for shown in [utc(secs), utc(secs + 86_399)] {
                assert_eq!(shown.len(), 23, "{shown}");
                assert!(
                    shown.ends_with(" UTC") && shown.as_bytes()[4] == b'-',
                    "{shown}"
                );
            }
        }
        assert_eq!(
            utc(SHOWN_SECS.end() + 1),
            (SHOWN_SECS.end() + 1).to_string()
        );
        assert_eq!(
            utc(SHOWN_SECS.start() - 1),
            (SHOWN_SECS.start() - 1).to_string()
        );
    }
}
