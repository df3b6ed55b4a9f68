//! Masking link values that look like secrets before they leave the server.
//!
//! Link definitions carry provider settings, and some of them are credentials (a database
//! password, an API token, an nkey seed). The dashboard is read-only and may be opened by
//! people who should not see them, so a value is replaced by [`MASK`] when its key names a
//! secret (`password`, `token`, `secret`, `key`, `credential`, `auth`, `seed`, `jwt`, …) or
//! when the value itself looks like one (an nkey seed `S…`, a JWT, a URL with a password,
//! a long random-looking string). Masking is on the server: the browser never gets them.

/// What a masked value is shown as.
pub const MASK: &str = "••••••";

/// Key fragments that name a secret (compared case-insensitively).
const SECRET_KEYS: [&str; 12] =
    ["pass", "secret", "token", "key", "credential", "auth", "seed", "jwt", "private", "cert", "signature", "cookie"];

/// The value to show for link value `value` under `key`.
pub fn mask_value(key: &str, value: &str) -> String {
    if looks_secret(key, value) { MASK.to_owned() } else { value.to_owned() }
}

/// Whether `key = value` looks like a secret.
pub fn looks_secret(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    if SECRET_KEYS.iter().any(|s| k.contains(s)) {
        return true;
    }
    let v = value.trim();
    is_nkey_seed(v) || is_jwt(v) || url_has_password(v) || high_entropy(v)
}

/// An nkey seed: `S` + a key-type letter, 58 base32 characters.
fn is_nkey_seed(v: &str) -> bool {
    v.len() == 58 && v.starts_with('S') && v.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// A JWT: three base64url parts, the first a JSON header (`eyJ`).
fn is_jwt(v: &str) -> bool {
    v.starts_with("eyJ") && v.split('.').count() == 3
}

/// `scheme://user:password@host…`.
fn url_has_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority.split_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

/// A long token that looks random: base64-ish characters only, with plenty of both upper-
/// and lower-case letters and some digits (a public key such as `kv_MDFJ…`, mostly upper
/// case, or a path or address, is not).
fn high_entropy(v: &str) -> bool {
    if v.len() < 32 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b)) {
        return false;
    }
    let upper = v.bytes().filter(u8::is_ascii_uppercase).count();
    let lower = v.bytes().filter(u8::is_ascii_lowercase).count();
    let digit = v.bytes().filter(u8::is_ascii_digit).count();
    upper * 8 >= v.len() && lower * 8 >= v.len() && digit > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_ordinary_settings_are_not() {
        for (k, v) in [
            ("password", "hunter2"),
            ("DB_PASSWORD", "x"),
            ("api_token", "abc"),
            ("client_secret", "abc"),
            ("aws_access_key_id", "AKIA"),
            ("any", "SUAM3O4R4ENJJBPRKHDF2FEYBQQM3QLVYBMOU3SKLMLEGX7ZZSN6Q5AZBU"),
            ("any", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            ("url", "postgres://app:s3cr3t@db:5432/x"),
            ("blob", "Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA"),
        ] {
            assert_eq!(mask_value(k, v), MASK, "{k}={v}");
        }
        for (k, v) in [
            ("address", "127.0.0.1:8080"),
            ("bucket", "kv_MDFJHLAXAUMHA4OWPOB4P7YO72AQR2HMIUYFOXLXE2DZGM633K7HYRZQ"),
            ("url", "nats://127.0.0.1:4222"),
            ("path", "/var/lib/lattice/some/long/path/to/a/file.txt"),
            ("name", "counter"),
        ] {
            assert_eq!(mask_value(k, v), v, "{k}={v}");
        }
    }
}
