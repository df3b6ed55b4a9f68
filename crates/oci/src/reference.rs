//! [`OciRef`]: an OCI reference as a Lattice host accepts it, validated once.
//!
//! Forms (HOST.md §9, CONVENTIONS "References a host resolves"):
//! - `oci://host[:port]/repo[:tag][@sha256:…]`;
//! - the bare `host[:port]/repo[:tag][@sha256:…]` that wash, wadm and the 0.33 control
//!   client send — told apart from a file path by [`is_oci_reference`]: the first part
//!   (before the first `/`) has a `.` or `:` or is `localhost`, and the text does not start
//!   like a path (`/`, `.`, `~`).
//!
//! Rules, as 0.82 applies them and where Lattice is stricter:
//! - the whole text is lower-cased first (0.82 does the same);
//! - the registry must be named: Lattice never guesses `docker.io`;
//! - no tag and no digest means `:latest` ([`OciRef::is_latest`]), which the host refuses
//!   unless allowed (0.82 only checks for a literal `:latest` suffix);
//! - a digest must be `sha256:` with 64 hex digits (what the registry and cache use).

use std::fmt;

use oci_client::Reference;

use crate::error::OciError;

/// The longest reference accepted (names are capped at 255 by the distribution spec; tag
/// and digest add at most 200 more).
pub const MAX_REFERENCE_LEN: usize = 512;

const SCHEME: &str = "oci://";

/// Whether `text` is an OCI reference (rather than a file path): `oci://…`, or a bare
/// `host[:port]/repo…` whose first part has a `.` or a `:` or is `localhost`. Text that
/// starts like a path (`/`, `.`, `~`) or has another URL scheme is not.
pub fn is_oci_reference(text: &str) -> bool {
    let text = text.trim();
    if text.get(..SCHEME.len()).is_some_and(|head| head.eq_ignore_ascii_case(SCHEME)) {
        return true;
    }
    if text.contains("://") || text.starts_with(['/', '.', '~']) {
        return false;
    }
    match text.split_once('/') {
        Some((first, rest)) => {
            !rest.is_empty() && (first.contains('.') || first.contains(':') || first.eq_ignore_ascii_case("localhost"))
        }
        None => false,
    }
}

/// A validated OCI reference: registry, repository, and a tag and/or a digest.
#[derive(Clone, PartialEq, Eq)]
pub struct OciRef {
    inner: Reference,
    latest: bool,
}

impl fmt::Debug for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OciRef({self})")
    }
}

impl fmt::Display for OciRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical())
    }
}

fn bad(reference: &str, reason: impl Into<String>) -> OciError {
    OciError::BadReference { reference: reference.to_owned(), reason: reason.into() }
}

/// Whether `digest` is `sha256:` followed by 64 lower-case hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

impl OciRef {
    /// Parse `text` (`oci://` optional). See the module docs for the rules.
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let shown = text.trim();
        if shown.len() > MAX_REFERENCE_LEN {
            let head: String = shown.chars().take(40).collect();
            return Err(bad(&format!("{head}…"), format!("longer than {MAX_REFERENCE_LEN} bytes")));
        }
        let lower = shown.to_ascii_lowercase();
        let body = lower.strip_prefix(SCHEME).unwrap_or(&lower);
        if body.is_empty() {
            return Err(bad(shown, "empty"));
        }
        if body.contains("://") {
            return Err(bad(shown, "only oci:// (or no scheme) names a registry artifact"));
        }
        if !is_oci_reference(body) {
            return Err(bad(
                shown,
                "name the registry explicitly: host[:port]/repository[:tag|@sha256:…] (the host needs a '.' or a ':' or must be localhost)",
            ));
        }
        if body.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad(shown, "contains whitespace or control characters"));
        }
        let parsed = Reference::try_from(body).map_err(|e| bad(shown, e.to_string()))?;
        let first = body.split('/').next().unwrap_or_default();
        if parsed.registry() != first {
            return Err(bad(shown, format!("the registry '{first}' is not a host name")));
        }
        if parsed.repository().is_empty() {
            return Err(bad(shown, "no repository"));
        }
        if let Some(digest) = parsed.digest()
            && !is_sha256_digest(digest)
        {
            return Err(bad(shown, "a digest must be sha256: followed by 64 hex digits"));
        }
        let latest = parsed.digest().is_none() && parsed.tag().is_none_or(|t| t == "latest");
        let inner = match (parsed.tag(), parsed.digest()) {
            (None, None) => {
                Reference::with_tag(parsed.registry().to_owned(), parsed.repository().to_owned(), "latest".to_owned())
            }
            _ => parsed,
        };
        Ok(Self { inner, latest })
    }

    /// The registry authority (`host[:port]`): what credentials and `--allowed-insecure`
    /// are keyed by.
    pub fn registry(&self) -> &str {
        self.inner.registry()
    }

    /// The repository path.
    pub fn repository(&self) -> &str {
        self.inner.repository()
    }

    /// The tag (`latest` when none was given and there is no digest).
    pub fn tag(&self) -> Option<&str> {
        self.inner.tag()
    }

    /// The digest the reference pins (`sha256:…`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// Whether this names `:latest`: tag `latest`, or no tag and no digest.
    pub fn is_latest(&self) -> bool {
        self.latest
    }

    /// `registry/repository:tag` — the key of the tag index (`None` for a digest-only
    /// reference).
    pub fn tag_key(&self) -> Option<String> {
        self.tag().map(|t| format!("{}/{}:{t}", self.registry(), self.repository()))
    }

    /// The same artifact pinned to `digest`.
    pub fn with_digest(&self, digest: &str) -> OciRef {
        let inner = Reference::with_digest(self.registry().to_owned(), self.repository().to_owned(), digest.to_owned());
        OciRef { inner, latest: false }
    }

    /// `registry/repository[:tag][@digest]`.
    pub fn canonical(&self) -> String {
        let mut s = format!("{}/{}", self.registry(), self.repository());
        if let Some(tag) = self.tag() {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = self.digest() {
            s.push('@');
            s.push_str(digest);
        }
        s
    }

    pub(crate) fn client_ref(&self) -> &Reference {
        &self.inner
    }
}

impl std::str::FromStr for OciRef {
    type Err = OciError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OciRef::parse(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn the_forms_wash_and_wadm_send_parse() {
        let r = OciRef::parse("wasmcloud.azurecr.io/echo:0.3.8").unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("wasmcloud.azurecr.io", "echo", Some("0.3.8"), None)
        );
        assert!(!r.is_latest());
        let r = OciRef::parse("oci://127.0.0.1:5000/a/b/hello:0.1.0").unwrap();
        assert_eq!((r.registry(), r.repository()), ("127.0.0.1:5000", "a/b/hello"));
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b/hello:0.1.0");
        let r = OciRef::parse(&format!("localhost:5000/x@{D}")).unwrap();
        assert_eq!(r.digest(), Some(D));
        assert_eq!(r.tag(), None);
        assert!(!r.is_latest());
        assert_eq!(r.tag_key(), None);
        let r = OciRef::parse(&format!("localhost/x:1@{D}")).unwrap();
        assert_eq!((r.tag(), r.digest()), (Some("1"), Some(D)));
    }

    #[test]
    fn references_are_lower_cased_as_in_0_82() {
        let r = OciRef::parse("OCI://Registry.Example:5000/Echo:V1").unwrap();
        assert_eq!(r.to_string(), "registry.example:5000/echo:v1");
    }

    #[test]
    fn no_tag_means_latest() {
        let r = OciRef::parse("registry.example/echo").unwrap();
        assert!(r.is_latest());
        assert_eq!(r.tag(), Some("latest"));
        assert!(OciRef::parse("registry.example/echo:latest").unwrap().is_latest());
        assert!(!OciRef::parse("registry.example/echo:latest2").unwrap().is_latest());
    }

    #[test]
    fn bad_references_are_refused_with_a_reason() {
        for (text, why) in [
            ("echo:0.1", "name the registry"),
            ("library/echo:0.1", "name the registry"),
            ("oci://echo:0.1", "name the registry"),
            ("registry.example/", "name the registry"),
            ("registry.example/Echo Space:1", "whitespace"),
            ("registry.example/echo@sha256:abc", ""),
            ("registry.example/echo@md5:0123456789abcdef0123456789abcdef", "digest"),
            ("registry.example/echo:a:b", ""),
            ("https://registry.example/echo:1", "only oci://"),
            ("", "empty"),
        ] {
            let e = OciRef::parse(text).unwrap_err();
            assert_eq!(e.kind(), "bad_reference", "{text}");
            assert!(e.to_string().contains(why), "{text}: {e}");
        }
        let long = format!("registry.example/{}:1", "a".repeat(600));
        assert!(OciRef::parse(&long).unwrap_err().to_string().contains("longer than"));
    }

    #[test]
    fn paths_are_not_references() {
        for path in
            ["a.wasm", "./dir.d/a.wasm", "../actors/echo.wasm", "/abs/x.wasm", "file:///x.wasm", "dir/a.wasm", "~/x"]
        {
            assert!(!is_oci_reference(path), "{path}");
        }
        for r in ["oci://x/y", "registry.example/y:1", "127.0.0.1:5000/y", "localhost/y"] {
            assert!(is_oci_reference(r), "{r}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(text in "\\PC{0,80}") {
            if let Ok(r) = OciRef::parse(&text) {
                let again = OciRef::parse(&r.to_string()).unwrap();
                proptest::prop_assert_eq!(again.to_string(), r.to_string());
            }
        }
    }
}
