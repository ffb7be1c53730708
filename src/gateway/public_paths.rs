//! `PUBLIC_PATHS`: path prefixes served without sign-in, matched on segment boundaries.
//!
//! The path matched is the one the runtime hands over, which the WHATWG URL parser has already
//! normalised (`/a/../b`, `/a/%2e%2e/b` and `/a\..\b` all arrive as `/b`), and it is the very
//! string forwarded to the origin: the check and the origin can never see two different paths.
//! Anything still encoded (`%2F`, `%5C`) stays part of its segment, so it cannot climb out of a
//! public prefix; matching is case-sensitive, as paths are.

/// The configured prefixes, each normalised to start with `/` and to have no trailing `/`
/// (except the root itself, which makes every path public).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicPaths(Vec<String>);

impl PublicPaths {
    /// From the comma-separated setting; `Err` names the entry that is not a path.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut prefixes = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if !entry.starts_with('/')
                || entry.starts_with("//")
                || entry.contains(['?', '#', '%', '\\'])
            {
                return Err(format!(
                    "has {entry:?}, which is not a plain path starting with /"
                ));
            }
            let trimmed = entry.trim_end_matches('/');
            prefixes.push(if trimmed.is_empty() {
                "/".to_owned()
            } else {
                trimmed.to_owned()
            });
        }
        Ok(Self(prefixes))
    }

    /// True when `path` is one of the prefixes or lies below one (`/healthz` admits
    /// `/healthz` and `/healthz/x`, never `/healthzadmin`).
    pub fn admit(&self, path: &str) -> bool {
        self.0.iter().any(|prefix| {
            prefix == "/"
                || path
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(raw: &str) -> PublicPaths {
        PublicPaths::parse(raw).unwrap()
    }

    #[test]
    fn matches_on_segment_boundaries_only() {
        let public = paths("/healthz, /assets/");
        for admitted in [
            "/healthz",
            "/healthz/",
            "/healthz/live",
            "/assets",
            "/assets/app.css",
        ] {
            assert!(public.admit(admitted), "{admitted}");
        }
        for refused in [
            "/healthzadmin",
            "/assetsx/a",
            "/",
            "/admin",
            "/ASSETS/app.css",
            "//assets/x",
        ] {
            assert!(!public.admit(refused), "{refused}");
        }
    }

    #[test]
    fn encoded_separators_stay_inside_their_segment() {
        let public = paths("/assets/");
        // What the runtime hands over for each trick (its URL parser resolves dot segments,
        // decoded or not, and backslashes; it leaves %2F and %5C encoded).
        for refused in ["/assets%2F..%2Fadmin", "/assets%5C..%5Cadmin", "/admin"] {
            assert!(!public.admit(refused), "{refused}");
        }
        assert!(
            public.admit("/assets/%2e%2e%2Fadmin"),
            "one segment below /assets"
        );
    }

    #[test]
    fn entries_must_be_plain_paths() {
        for bad in ["healthz", "//evil", "/a?b", "/a#b", "/a%2fb", "/a\\b"] {
            assert!(PublicPaths::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(paths(""), PublicPaths::default());
        assert!(!paths("").admit("/"));
        assert!(paths("/").admit("/anything"));
    }
}
