//! Alerts: what the monitor says about each invocation that failed a check.
//!
//! One [`Alert`] per non-valid message, in three forms that carry the same facts: a human
//! line ([`Alert::human_line`], for stderr), one JSON object ([`Alert::to_json`], the
//! `--json` line on stdout and the payload published on the alert subject). The JSON
//! fields are those of CONVENTIONS.md: `time` (RFC 3339 UTC), `subject`, `kind`, `origin`,
//! `target`, `operation`, `invocation_id`, `reason`; fields the message did not carry
//! (an undecodable payload has no origin) are `null`.

use std::time::{SystemTime, UNIX_EPOCH};

use lattice_proto::verify::Rejection;
use serde::Serialize;

use crate::classify::CallInfo;

/// The default alert subject for a lattice: `lattice.alerts.{lattice}`.
pub fn default_alert_subject(lattice: &lattice_proto::LatticeName) -> String {
    format!("lattice.alerts.{lattice}")
}

/// The most characters of a forged string (operation, keys, id) an alert carries: they come
/// from the bus, so a flood of 16 KiB operations must not become 16 KiB alerts queued by
/// the thousand. Longer values are cut and end in `…`.
pub const MAX_FIELD_CHARS: usize = 256;

fn clip(value: &str) -> String {
    clip_to(value, MAX_FIELD_CHARS)
}

fn clip_to(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &value[..cut]),
        None => value.to_owned(),
    }
}

/// One non-valid invocation seen on the bus.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// When the monitor saw it, RFC 3339 UTC with milliseconds.
    pub time: String,
    /// The subject it was published on.
    pub subject: String,
    /// The failed check (`bad_signature`, `unknown_issuer`, …, `replayed`).
    pub kind: &'static str,
    /// The origin's public key, if the payload decoded.
    pub origin: Option<String>,
    /// The target's public key, if the payload decoded.
    pub target: Option<String>,
    /// The operation, if the payload decoded.
    pub operation: Option<String>,
    /// The invocation id, if the payload decoded.
    pub invocation_id: Option<String>,
    /// Why, in words.
    pub reason: String,
}

impl Alert {
    /// Build the alert for a failed check.
    pub fn new(at: SystemTime, subject: impl Into<String>, call: Option<&CallInfo>, error: &Rejection) -> Self {
        Self {
            time: rfc3339(at),
            subject: subject.into(),
            kind: error.kind().as_str(),
            origin: call.map(|c| clip(&c.origin)),
            target: call.map(|c| clip(&c.target)),
            operation: call.map(|c| clip(&c.operation)),
            invocation_id: call.map(|c| clip(&c.invocation_id)),
            reason: clip_to(&crate::classify::reason(error), 4 * MAX_FIELD_CHARS),
        }
    }

    /// The alert for an unsigned control message (docs/SECURITY.md list (c)): `origin` is
    /// the actor a link put names or the host id a shutdown names, `target` the provider.
    pub fn side_door(
        at: SystemTime,
        subject: impl Into<String>,
        kind: crate::sidedoor::SideDoorKind,
        origin: Option<String>,
        target: Option<String>,
        reason: String,
    ) -> Self {
        let subject = subject.into();
        let operation = subject.rsplit_once(".linkdefs.").map_or_else(
            || subject.rsplit('.').next().unwrap_or_default().to_owned(),
            |(_, op)| format!("linkdefs.{op}"),
        );
        Self {
            time: rfc3339(at),
            subject,
            kind: kind.as_str(),
            origin,
            target,
            operation: Some(operation),
            invocation_id: None,
            reason,
        }
    }

    /// The alert as one compact JSON object (no newline).
    pub fn to_json(&self) -> String {
        // A struct of strings always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The alert as one human line (no newline), for stderr. Every field that came from
    /// the bus is passed through [`terminal_safe`], so a forged operation cannot move the
    /// cursor, recolour, erase or hide the line.
    pub fn human_line(&self) -> String {
        let dash =
            |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map_or_else(|| "-".into(), terminal_safe);
        format!(
            "{} ALERT {} on {}: op {} from {} to {} (id {}): {}",
            self.time,
            self.kind,
            terminal_safe(&self.subject),
            dash(&self.operation),
            dash(&self.origin),
            dash(&self.target),
            dash(&self.invocation_id),
            terminal_safe(&self.reason.replace('\n', " ")),
        )
    }
}

/// `text` with every control character (C0, DEL, C1 — ESC and CSI included) and every
/// bidirectional override or isolate written as a visible `\u{…}` escape.
pub fn terminal_safe(text: &str) -> String {
    let unsafe_char = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// Format a time as RFC 3339 UTC with milliseconds: `2024-02-13T21:00:00.123Z`.
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn forged_strings_are_clipped() {
        let long = "é".repeat(20_000);
        assert_eq!(clip(&long).chars().count(), MAX_FIELD_CHARS + 1);
        assert!(clip(&long).ends_with('…'));
        assert_eq!(clip("KeyValue.Get"), "KeyValue.Get");
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        // The golden vectors' iat.
        assert_eq!(rfc3339(at(1_707_858_000, 0)), "2024-02-13T21:00:00.000Z");
        // A leap day, and the end of a leap year.
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.005Z");
        assert_eq!(rfc3339(at(1_735_689_599, 999)), "2024-12-31T23:59:59.999Z");
        assert_eq!(rfc3339(at(4_102_444_800, 0)), "2100-01-01T00:00:00.000Z");
    }

    #[test]
    fn json_has_exactly_the_documented_fields() {
        const TARGET: &str = "MBXHUHG5FGYLPD6RHL2MKWMP572O6KUXCZXDZJXS4T57ZTMAKBN7CE6S";
        let call = CallInfo {
            origin: "MO".into(),
            target: TARGET.into(),
            operation: "Op.X".into(),
            invocation_id: "id1".into(),
            ..Default::default()
        };
        let subject = crate::classify::tests::actor_subject(TARGET);
        let a = Alert::new(
            at(0, 0),
            &subject,
            Some(&call),
            &lattice_proto::ClaimsError::Replayed { id: "id1".into() }.into(),
        );
        let v: serde_json::Value = serde_json::from_str(&a.to_json()).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["invocation_id", "kind", "operation", "origin", "reason", "subject", "target", "time"]);
        assert_eq!(v["kind"], "replayed");
        assert_eq!(v["time"], "1970-01-01T00:00:00.000Z");
        assert!(!a.to_json().contains('\n'));
        assert!(a.human_line().contains("ALERT replayed"));

        let m = Alert::new(at(0, 0), "s", None, &lattice_proto::ClaimsError::Malformed("bad\nbytes".into()).into());
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["origin"], serde_json::Value::Null);
        assert_eq!(v["kind"], "malformed");
        let undecodable = lattice_proto::Invocation::decode(b"\xc1").unwrap_err();
        let u = Alert::new(at(0, 0), "s", None, &undecodable.into());
        assert!(u.reason.starts_with("malformed msgpack Invocation"), "{}", u.reason);
        assert!(!m.human_line().contains('\n'));
    }

    #[test]
    fn forged_strings_cannot_drive_the_terminal() {
        let call = CallInfo {
            origin: "M\u{1b}[2K\rfake".into(),
            target: "V\u{9b}31m".into(),
            operation: "Op\u{1b}]0;title\u{7}\u{202e}x".into(),
            invocation_id: "id\u{0}".into(),
            ..Default::default()
        };
        let a = Alert::new(
            at(0, 0),
            "s\u{1b}",
            Some(&call),
            &Rejection::Claims(lattice_proto::ClaimsError::Replayed { id: "i".into() }),
        );
        let line = a.human_line();
        assert!(!line.chars().any(|c| c.is_control() || c == '\u{202e}'), "{line:?}");
        assert!(line.contains("M\\u{1b}[2K\\u{d}fake"), "{line}");
        assert!(line.contains("\\u{202e}"), "{line}");
        assert_eq!(terminal_safe("plain Op.X"), "plain Op.X");
        // The JSON keeps the bytes (escaped by JSON itself).
        assert!(a.to_json().contains("\\u001b[2K"), "{}", a.to_json());
    }
}
