//! `PUBLIC_PATHS`: path prefixes served without sign-in, matched on segment boundaries.
//!
//! The path matched is the one the runtime hands over, which the WHATWG URL parser has already
//! normalised (`/a/../b`, `/a/%2e%2e/b` and `/a\..\b` all arrive as `/b`), and it is the very
//! string forwarded to the origin. But an origin may read that string as another path: nginx
//! decodes `%2F` and then resolves `/assets/..%2Fadmin` to `/admin`, Tomcat and Spring drop a
//! `;parameter` before resolving `/assets/..;/admin`, IIS reads `%5C` as a separator, and a
//! second decoding turns `%25` into any of these. So a path with `;` or an encoded dot, slash,
//! backslash or percent sign is never public: it needs a session like any other. Matching is
//! case-sensitive, as paths are.

/// The configured prefixes, each normalised to start with `/` and to have no trailing `/`.
/// The root itself is refused: it would make every path public, which needs no gateway.
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
            if trimmed.is_empty() {
                return Err(format!(
                    "has {entry:?}, which would make every path public: a site without sign-in needs no gateway"
                ));
            }
            prefixes.push(trimmed.to_owned());
        }
        Ok(Self(prefixes))
    }

    /// True when `path` is one of the prefixes or lies below one (`/healthz` admits
    /// `/healthz` and `/healthz/x`, never `/healthzadmin`).
    pub fn admit(&self, path: &str) -> bool {
        !readable_otherwise(path)
            && self.0.iter().any(|prefix| {
                path.strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
            })
    }
}

/// True when an origin could resolve `path` to another path than the one matched (see the
/// module's comment).
fn readable_otherwise(path: &str) -> bool {
    const ENCODED: [&[u8]; 4] = [b"%2e", b"%2f", b"%5c", b"%25"];
    path.contains(';')
        || path
            .as_bytes()
            .windows(3)
            .any(|w| ENCODED.iter().any(|e| w.eq_ignore_ascii_case(e)))
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
    fn a_path_an_origin_could_read_as_another_is_never_public() {
        let public = paths("/assets/");
        // What the runtime hands over for each trick (its URL parser resolves dot segments,
        // decoded or not, and backslashes; it leaves %2F and %5C encoded), and what origins
        // make of them: nginx decodes %2F before resolving `..`, Tomcat drops `;...`, IIS
        // reads `\`, a second decoding turns %25 into any of them.
        for refused in [
            "/assets%2F..%2Fadmin",
            "/assets%5C..%5Cadmin",
            "/admin",
            "/assets/..%2Fadmin/users",
            "/assets/..%2fadmin",
            "/assets/%2e%2e%2Fadmin",
            "/assets/..;/admin/",
            "/assets/..%5Cadmin",
            "/assets/%252e%252e%252fadmin",
            "/assets/app.css;jsessionid=1",
        ] {
            assert!(!public.admit(refused), "{refused}");
        }
        for admitted in ["/assets/app.css", "/assets/a%20b.png", "/assets/%C3%A9.svg"] {
            assert!(public.admit(admitted), "{admitted}");
        }
    }

    #[test]
    fn entries_must_be_plain_paths() {
        for bad in [
            "healthz",
            "//evil",
            "/a?b",
            "/a#b",
            "/a%2fb",
            "/a\\b",
            "/",
            "/healthz,/",
        ] {
            assert!(PublicPaths::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(paths(""), PublicPaths::default());
        assert!(!paths("").admit("/"));
    }
}
