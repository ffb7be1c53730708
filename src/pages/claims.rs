//! Claims and userinfo fields as readable tables: times also as UTC dates, nested values
//! as formatted JSON, everything escaped by the template.

use chrono::DateTime;
use maud::{html, Markup};
use serde_json::{Map, Value};

/// Registered claims whose numbers are seconds since the epoch (RFC 7519 §4.1, OIDC Core §2).
const TIME_CLAIMS: &[&str] = &["exp", "iat", "nbf", "auth_time", "updated_at"];

pub fn table(fields: &Map<String, Value>) -> Markup {
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
            html! { pre { (serde_json::to_string_pretty(value).unwrap_or_default()) } }
        }
        other => html! { (other) },
    }
}

/// `2026-11-28 09:30:00 UTC`, or the raw number when out of range.
pub fn utc(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
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
}
