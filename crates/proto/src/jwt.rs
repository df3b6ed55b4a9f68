//! The wascap JWT envelope, once: the layout every wascap 0.12 token shares — invocation
//! claims ([`crate::claims`]), actor module claims and provider archive claims (both in
//! `lattice-host`).
//!
//! `B64URL(header).B64URL(claims JSON).B64URL(Ed25519 signature)`, base64url without
//! padding; the header is exactly `{"typ":"jwt","alg":"Ed25519"}` when written (field
//! order included: [`HEADER_B64`]) and, when read, any JSON object whose `alg` is
//! `Ed25519` and `typ` is `jwt`; the signature is over `header.claims` (the text before
//! the last `.`). What the claims hold, and which keys may issue them, is each user's.

use data_encoding::BASE64URL_NOPAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;

/// The base64url of `{"typ":"jwt","alg":"Ed25519"}`: the header of every wascap JWT.
pub const HEADER_B64: &str = "eyJ0eXAiOiJqd3QiLCJhbGciOiJFZDI1NTE5In0";

/// Why a token is not a well-formed, correctly signed wascap JWT.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three `.`-separated segments.
    #[error("invalid token format, expected 3 segments, found {found}")]
    Segments {
        /// How many segments there are.
        found: usize,
    },
    /// A segment is not base64url.
    #[error("{what} is not base64url: {reason}")]
    Base64 {
        /// `header`, `claims` or `signature`.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The header or the claims are not the expected JSON.
    #[error("{what}: {reason}")]
    Json {
        /// What was wrong (`header is not JSON`, `claims are not valid JSON`).
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The header names another algorithm.
    #[error("unsupported JWT algorithm {0:?} (WASCAP only supports Ed25519)")]
    Algorithm(String),
    /// The header names another type.
    #[error("invalid JWT header type {0:?}")]
    Type(String),
    /// The signature is not 64 bytes.
    #[error("signature is {0} bytes, not 64")]
    SignatureLength(usize),
    /// The signature does not verify against the issuer's key.
    #[error("the signature does not verify against the issuer's key")]
    BadSignature,
    /// The issuer is not a valid public key.
    #[error("issuer '{0}' is not a public key")]
    BadIssuer(String),
    /// Signing failed (the key cannot sign, or the claims do not serialise).
    #[error("cannot sign: {0}")]
    Sign(String),
}

/// The three segments of a token, checked for shape only.
#[derive(Clone, Copy, Debug)]
pub struct Segments<'a> {
    token: &'a str,
    header: &'a str,
    claims: &'a str,
    signature: &'a str,
}

/// Split a token into its three segments.
pub fn split(token: &str) -> Result<Segments<'_>, JwtError> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(claims), Some(signature), None) => Ok(Segments { token, header, claims, signature }),
        _ => Err(JwtError::Segments { found: token.split('.').count() }),
    }
}

fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, JwtError> {
    BASE64URL_NOPAD.decode(segment.as_bytes()).map_err(|e| JwtError::Base64 { what, reason: e.to_string() })
}

impl<'a> Segments<'a> {
    /// The header segment.
    pub fn header(&self) -> &'a str {
        self.header
    }

    /// The claims segment (base64url).
    pub fn claims_segment(&self) -> &'a str {
        self.claims
    }

    /// The text the signature covers: `header.claims`.
    pub fn signed_input(&self) -> &'a [u8] {
        &self.token.as_bytes()[..self.header.len() + 1 + self.claims.len()]
    }

    /// Check the header: `alg` Ed25519, `typ` jwt (the canonical header needs no parsing).
    pub fn check_header(&self) -> Result<(), JwtError> {
        if self.header == HEADER_B64 {
            return Ok(());
        }
        #[derive(serde::Deserialize)]
        struct Header {
            typ: Option<String>,
            alg: Option<String>,
        }
        let h: Header = serde_json::from_slice(&b64(self.header, "header")?)
            .map_err(|e| JwtError::Json { what: "header is not JSON", reason: e.to_string() })?;
        if h.alg.as_deref() != Some("Ed25519") {
            return Err(JwtError::Algorithm(h.alg.unwrap_or_default()));
        }
        if h.typ.as_deref() != Some("jwt") {
            return Err(JwtError::Type(h.typ.unwrap_or_default()));
        }
        Ok(())
    }

    /// Decode the claims JSON as `T`.
    pub fn claims<T: DeserializeOwned>(&self) -> Result<T, JwtError> {
        serde_json::from_slice(&b64(self.claims, "claims")?)
            .map_err(|e| JwtError::Json { what: "claims are not valid JSON", reason: e.to_string() })
    }

    /// The raw 64-byte signature.
    pub fn signature(&self) -> Result<[u8; 64], JwtError> {
        let sig = b64(self.signature, "signature")?;
        sig.as_slice().try_into().map_err(|_| JwtError::SignatureLength(sig.len()))
    }

    /// Verify the signature against `issuer`, an nkey public key (any type).
    pub fn verify_signature(&self, issuer: &str) -> Result<(), JwtError> {
        let key = nkeys::KeyPair::from_public_key(issuer).map_err(|_| JwtError::BadIssuer(issuer.to_owned()))?;
        let sig = self.signature()?;
        key.verify(self.signed_input(), &sig).map_err(|_| JwtError::BadSignature)
    }
}

/// Encode `claims` (serialised in their field order) and sign them with `sign` (an Ed25519
/// signature over `header.claims`): the token.
pub fn encode<E: std::fmt::Display>(
    claims: &impl Serialize,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<String, JwtError> {
    let json = serde_json::to_vec(claims).map_err(|e| JwtError::Sign(e.to_string()))?;
    let mut token = String::with_capacity(HEADER_B64.len() + json.len() * 4 / 3 + 100);
    token.push_str(HEADER_B64);
    token.push('.');
    BASE64URL_NOPAD.encode_append(&json, &mut token);
    let sig = sign(token.as_bytes()).map_err(|e| JwtError::Sign(e.to_string()))?;
    token.push('.');
    BASE64URL_NOPAD.encode_append(&sig, &mut token);
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_constant_is_the_wascap_header() {
        assert_eq!(BASE64URL_NOPAD.encode(br#"{"typ":"jwt","alg":"Ed25519"}"#), HEADER_B64);
    }

    #[test]
    fn segments_are_counted_like_wascap() {
        assert_eq!(split("abc").unwrap_err(), JwtError::Segments { found: 1 });
        assert!(split("a.b.c.d").is_err());
        assert!(split("a.b.c").is_ok());
    }

    #[test]
    fn encode_then_verify() {
        let key = nkeys::KeyPair::new_account();
        let token = encode(&serde_json::json!({"iss": key.public_key(), "x": 1}), |m| key.sign(m)).unwrap();
        let s = split(&token).unwrap();
        s.check_header().unwrap();
        s.verify_signature(&key.public_key()).unwrap();
        let other = nkeys::KeyPair::new_account();
        assert_eq!(s.verify_signature(&other.public_key()), Err(JwtError::BadSignature));
        let nats = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
        let bad = format!("{nats}.{}", s.claims_segment());
        assert!(matches!(split(&format!("{bad}.x")).unwrap().check_header(), Err(JwtError::Algorithm(_))));
    }
}
