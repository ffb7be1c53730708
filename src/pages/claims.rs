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

/// `2026-11-28 09:30:00 UTC`, or the raw number outside years 0000..=9999.
///
/// Hand-written rather than chrono's formatter, which costs ~10 KB of wasm for one format.
pub fn utc(secs: i64) -> String {
    if !SHOWN_SECS.contains(&secs) {
        return secs.to_string();
    }
    let (days, secs_of_day) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01, by Howard
/// Hinnant's `civil_from_days`: 400-year eras of 146097 days, years starting in March.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
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
    fn dates_match_chrono_across_the_shown_range() {
        let check = |secs: i64| {
            let expected = chrono::DateTime::from_timestamp(secs, 0)
                .unwrap()
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string();
            assert_eq!(utc(secs), expected, "{secs}");
        };
        // Every day boundary near leap years and century rules, then a sweep of the range.
        for secs in [
            0,
            59,
            86_399,
            86_400,
            951_782_400,
            951_868_800,
            4_107_542_400,
            4_107_628_800,
        ] {
            check(secs);
        }
        for secs in SHOWN_SECS.step_by(7_777_777) {
            check(secs);
            check(secs + 86_399);
        }
        check(*SHOWN_SECS.start());
        check(*SHOWN_SECS.end());
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
