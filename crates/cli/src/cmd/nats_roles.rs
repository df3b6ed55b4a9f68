//! The least-privilege NATS roles of a lattice: which subjects each kind of client may
//! publish and subscribe to, and the nats-server configuration that enforces them.
//!
//! This is the one place that decides who may do what on NATS; `lattice nats-config`
//! writes [`render`]'s output, and docs/SECURITY.md holds [`markdown`]'s table (a unit test
//! fails when the two drift apart). Every subject is built from the lattice's own builders
//! (`lattice_proto::subject`, `lattice_control::subjects` and `::storage`) or spelled here
//! once for the NATS and JetStream APIs, with the lattice named in it wherever the protocol
//! allows: NATS `*` matches one whole token, so a bucket is either named exactly or is `*`.
//!
//! Two accounts:
//! - `LATTICE_{lattice}`: hosts, providers, the control tool and the monitor, with JetStream.
//! - `CALLERS_{lattice}`: callers (`lattice call`, applications using `RpcClient`). Their
//!   only way into the lattice is a service import of exactly the invocation subjects
//!   (`wasmbus.rpc.{lattice}.*` and `.*.*`), so nothing they send — reply subjects included —
//!   lands anywhere else, and they have no JetStream to bounce bytes through: nats-server
//!   checks the publish subject only, never a reply or deliver subject, so inside one
//!   account any JetStream access can deliver chosen bytes to any subject.

use std::fmt::Write as _;

use lattice_control::{storage, subjects};
use lattice_proto::{LatticeName, subject};

/// A kind of NATS client, with one identity (user nkey) each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Role {
    /// `lattice up` (both connections): serves actors, drives providers, answers the
    /// control interface, owns the lattice-data bucket.
    Host,
    /// Capability providers started by a host (handed to them in HostData).
    Provider,
    /// Callers outside the lattice: `lattice call`, applications with `RpcClient`.
    Caller,
    /// `lattice monitor`, `lattice spy`, `lattice ui`: read-only.
    Monitor,
    /// `lattice get|link|start|stop|scale|events`: the control interface.
    Control,
}

impl Role {
    /// Every role, in the order of the generated files and tables.
    pub(crate) const ALL: [Role; 5] = [Role::Host, Role::Provider, Role::Caller, Role::Monitor, Role::Control];

    /// The role's name (file names, comments, `--json`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Host => "host",
            Role::Provider => "provider",
            Role::Caller => "caller",
            Role::Monitor => "monitor",
            Role::Control => "control",
        }
    }

    /// Who uses it.
    pub(crate) fn used_by(self) -> &'static str {
        match self {
            Role::Host => "`lattice up` (both connections)",
            Role::Provider => "providers (the host hands the seed over in HostData)",
            Role::Caller => "`lattice call`, applications with `RpcClient`",
            Role::Monitor => "`lattice monitor`, `lattice spy`, `lattice ui`, `lattice events`",
            Role::Control => "`lattice get`, `link`, `start`, `stop`, `scale`, `events`",
        }
    }

    /// Whether the role lives in the callers' account (else in the lattice's).
    pub(crate) fn in_callers_account(self) -> bool {
        self == Role::Caller
    }
}

/// What one role may do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Permissions {
    /// Subjects it may publish to.
    pub(crate) publish_allow: Vec<String>,
    /// Exceptions to `publish_allow`.
    pub(crate) publish_deny: Vec<String>,
    /// Subjects it may subscribe to (`"subject queue"` entries name queue groups).
    pub(crate) subscribe_allow: Vec<String>,
    /// Exceptions to `subscribe_allow` (`"> >"` denies every queue subscription).
    pub(crate) subscribe_deny: Vec<String>,
    /// Whether it may answer requests it received (publish once to their reply subject).
    pub(crate) allow_responses: bool,
}

/// `LATTICE_{lattice}`: the account of hosts, providers, control and monitor.
pub(crate) fn lattice_account(lattice: &LatticeName) -> String {
    format!("LATTICE_{lattice}")
}

/// `CALLERS_{lattice}`: the account of callers.
pub(crate) fn callers_account(lattice: &LatticeName) -> String {
    format!("CALLERS_{lattice}")
}

/// The subjects callers may send invocations on, imported from the lattice's account:
/// actors (`wasmbus.rpc.{lattice}.{M…}`) and providers (`wasmbus.rpc.{lattice}.{V…}.{link}`).
/// `*` is one token, so provider control subjects (`….linkdefs.put`, `.health`,
/// `.shutdown`) are not among them.
pub(crate) fn caller_request_subjects(lattice: &LatticeName) -> Vec<String> {
    let (actors, providers) = invocation_subjects(lattice);
    vec![actors, providers]
}

/// `wasmbus.rpc.{lattice}.*` (actor invocations) and `wasmbus.rpc.{lattice}.*.*`
/// (provider invocations), from the RPC plane's wildcard.
fn invocation_subjects(lattice: &LatticeName) -> (String, String) {
    let base = subject::rpc_wildcard(lattice).into_string();
    let prefix = base.trim_end_matches('>');
    (format!("{prefix}*"), format!("{prefix}*.*"))
}

/// NATS' own inbox prefix (async-nats replies, JetStream acks and deliveries).
const INBOX: &str = "_INBOX.>";
/// Where nats-server maps replies of cross-account service requests (seen by the monitor).
const SERVICE_REPLIES: &str = "_R_.>";
/// Every queue subscription, as a subscribe-permission entry.
const ANY_QUEUE: &str = "> >";
/// JetStream flow-control replies of ordered consumers (KV watch, object reads).
const JS_FLOW_CONTROL: &str = "$JS.FC.>";
/// The NATS micro discovery subjects every RPC server answers.
fn micro_subjects() -> String {
    format!("{}.>", lattice_rpc::micro::API_PREFIX)
}

/// `$JS.API.{api}.{stream}`.
fn js_api(api: &str, stream: &str) -> String {
    format!("$JS.API.{api}.{stream}")
}

/// The JetStream API calls a client of a KV or object-store stream makes: look it up,
/// read single messages (direct and from the leader), and ordered consumers (watch, keys,
/// object reads). `create` adds creating the stream.
fn stream_use(stream: &str, create: bool, purge: bool) -> Vec<String> {
    let mut out = vec![
        js_api("STREAM.INFO", stream),
        js_api("STREAM.MSG.GET", stream),
        js_api("DIRECT.GET", stream),
        format!("{}.>", js_api("DIRECT.GET", stream)),
        js_api("CONSUMER.CREATE", stream),
        format!("{}.>", js_api("CONSUMER.CREATE", stream)),
        format!("{}.*", js_api("CONSUMER.DELETE", stream)),
    ];
    if create {
        out.push(js_api("STREAM.CREATE", stream));
    }
    if purge {
        out.push(js_api("STREAM.PURGE", stream));
    }
    out
}

/// `KV_{bucket}` and `$KV.{bucket}.>`.
fn kv_stream(bucket: &str) -> String {
    format!("KV_{bucket}")
}
fn kv_subjects(bucket: &str) -> String {
    format!("$KV.{bucket}.>")
}
/// `OBJ_{bucket}` and `$O.{bucket}.>` (chunked bodies: the bucket is the lattice name).
fn obj_stream(bucket: &str) -> String {
    format!("OBJ_{bucket}")
}
fn obj_subjects(bucket: &str) -> String {
    format!("$O.{bucket}.>")
}

/// What `role` may do on `lattice`.
pub(crate) fn permissions(role: Role, lattice: &LatticeName) -> Permissions {
    let rpc_all = subject::rpc_wildcard(lattice).into_string();
    let (rpc_actors, rpc_providers) = invocation_subjects(lattice);
    let provider_control = format!("{rpc_providers}.>");
    let ctl_all = format!("{}.>", subjects::ctl_prefix(lattice));
    let events = [subjects::events(lattice), subjects::events_wildcard(lattice)];
    let data = storage::bucket_name(lattice);
    let config = storage::config_bucket_name(lattice);
    let chunks = lattice.as_str();
    match role {
        Role::Host => {
            // `_INBOX.>`: RPC and control servers confirm their subscriptions with a round
            // trip through their own inbox (`lattice_rpc::barrier`).
            let mut publish = vec![rpc_all.clone(), INBOX.into()];
            publish.extend(events);
            for stream in [kv_stream(&data), kv_stream(&config)] {
                publish.extend(stream_use(&stream, true, false));
            }
            publish.extend(stream_use(&obj_stream(chunks), true, true));
            // The chunk store's TTL (and replicas) are brought up to date at host start.
            publish.push(js_api("STREAM.UPDATE", &obj_stream(chunks)));
            publish.extend([kv_subjects(&data), kv_subjects(&config), obj_subjects(chunks), JS_FLOW_CONTROL.into()]);
            Permissions {
                publish_allow: publish,
                subscribe_allow: vec![rpc_actors, ctl_all, INBOX.into(), micro_subjects()],
                allow_responses: true,
                ..Permissions::default()
            }
        }
        Role::Provider => {
            // The key-value provider's buckets are named per actor at link time
            // (`kv_{actor}` or the link's `bucket`), so their token is `*`; the host's own
            // buckets are carved out again below.
            let mut publish = vec![rpc_actors, INBOX.into()];
            publish.extend(stream_use("*", true, false));
            publish.push(js_api("STREAM.PURGE", &obj_stream(chunks)));
            publish.extend([kv_subjects("*"), obj_subjects(chunks), JS_FLOW_CONTROL.into()]);
            let mut deny = vec![kv_subjects(&data), kv_subjects(&config)];
            deny.extend([js_api("STREAM.CREATE", &kv_stream(&data)), js_api("STREAM.CREATE", &kv_stream(&config))]);
            Permissions {
                publish_allow: publish,
                publish_deny: deny,
                subscribe_allow: vec![rpc_providers, provider_control, INBOX.into(), micro_subjects()],
                allow_responses: true,
                ..Permissions::default()
            }
        }
        Role::Caller => Permissions {
            publish_allow: caller_request_subjects(lattice),
            subscribe_allow: vec![INBOX.into()],
            subscribe_deny: vec![ANY_QUEUE.into()],
            ..Permissions::default()
        },
        Role::Monitor => {
            let alerts = lattice_monitor::alert::default_alert_subject(lattice);
            let mut subscribe = vec![rpc_all, INBOX.into(), SERVICE_REPLIES.into()];
            subscribe.extend(events);
            subscribe.push(alerts.clone());
            // Reading the lattice data (is a link put backed by a stored link?): lookups
            // of single entries only, no consumers.
            let data_stream = kv_stream(&data);
            let publish = vec![
                alerts,
                // `lattice ui`: the control *queries* only (never `cmd.*`, `linkdefs.*`, …).
                lattice_control::subjects::ping_hosts(lattice),
                format!("{}.get.>", lattice_control::subjects::ctl_prefix(lattice)),
                js_api("STREAM.INFO", &data_stream),
                js_api("STREAM.MSG.GET", &data_stream),
                js_api("DIRECT.GET", &data_stream),
                format!("{}.>", js_api("DIRECT.GET", &data_stream)),
            ];
            Permissions {
                publish_allow: publish,
                subscribe_allow: subscribe,
                subscribe_deny: vec![ANY_QUEUE.into()],
                ..Permissions::default()
            }
        }
        Role::Control => {
            let mut subscribe = vec![INBOX.into()];
            subscribe.extend(events);
            Permissions {
                publish_allow: vec![ctl_all],
                subscribe_allow: subscribe,
                subscribe_deny: vec![ANY_QUEUE.into()],
                ..Permissions::default()
            }
        }
    }
}

/// A JSON string literal (nats-server's config syntax accepts JSON values).
fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))
}

fn render_user(out: &mut String, role: Role, nkey: &str, p: &Permissions) {
    let _ = writeln!(out, "      # {}: {}", role.name(), role.used_by());
    let _ = writeln!(out, "      {{ nkey: {}, permissions: {{", quoted(nkey));
    let mut rule = |verb: &str, allow: &[String], deny: &[String]| {
        let _ = write!(out, "        {verb}: {{ allow: {}", list(allow));
        if !deny.is_empty() {
            let _ = write!(out, ", deny: {}", list(deny));
        }
        let _ = writeln!(out, " }}");
    };
    rule("publish", &p.publish_allow, &p.publish_deny);
    rule("subscribe", &p.subscribe_allow, &p.subscribe_deny);
    if p.allow_responses {
        let _ = writeln!(out, "        allow_responses: true");
    }
    let _ = writeln!(out, "      }} }}");
}

/// The nats-server configuration for `lattice`, with one user per entry of `users`
/// (role, user public key `U…`). `store_dir` is JetStream's storage directory, if set.
pub(crate) fn render(lattice: &LatticeName, users: &[(Role, String)], store_dir: Option<&str>) -> String {
    let (lat, callers) = (lattice_account(lattice), callers_account(lattice));
    let requests = caller_request_subjects(lattice);
    let mut out = String::new();
    let _ = writeln!(out, "# nats-server configuration for lattice {lattice}, written by `lattice nats-config`.");
    let _ = writeln!(out, "# One nkey user per role; the seeds are in the files next to this one.");
    let _ = writeln!(out, "# Roles and subjects: docs/SECURITY.md \"NATS roles\". Start with: nats-server -c FILE");
    match store_dir {
        Some(dir) => {
            let _ = writeln!(out, "jetstream {{ store_dir: {} }}", quoted(dir));
        }
        None => {
            let _ = writeln!(out, "jetstream: enabled");
        }
    }
    let _ = writeln!(out, "accounts {{");
    let _ = writeln!(out, "  {}: {{", quoted(&lat));
    let _ = writeln!(out, "    jetstream: enabled");
    let _ = writeln!(out, "    users: [");
    for (role, nkey) in users.iter().filter(|(r, _)| !r.in_callers_account()) {
        render_user(&mut out, *role, nkey, &permissions(*role, lattice));
    }
    let _ = writeln!(out, "    ]");
    let _ = writeln!(out, "    # Callers reach exactly the invocation subjects, nothing else.");
    let exports: Vec<String> =
        requests.iter().map(|s| format!("{{ service: {}, accounts: [{}] }}", quoted(s), quoted(&callers))).collect();
    let _ = writeln!(out, "    exports: [{}]", exports.join(", "));
    let _ = writeln!(out, "  }}");
    let _ = writeln!(out, "  {}: {{", quoted(&callers));
    let _ = writeln!(out, "    users: [");
    for (role, nkey) in users.iter().filter(|(r, _)| r.in_callers_account()) {
        render_user(&mut out, *role, nkey, &permissions(*role, lattice));
    }
    let _ = writeln!(out, "    ]");
    let imports: Vec<String> = requests
        .iter()
        .map(|s| format!("{{ service: {{ account: {}, subject: {} }} }}", quoted(&lat), quoted(s)))
        .collect();
    let _ = writeln!(out, "    imports: [{}]", imports.join(", "));
    let _ = writeln!(out, "  }}");
    let _ = writeln!(out, "}}");
    out
}

/// The roles section of docs/SECURITY.md, for a lattice called `lattice` (the docs use
/// the placeholder `{lattice}`): per role, its account, who uses it and its subjects.
pub(crate) fn markdown(lattice: &LatticeName) -> String {
    let code = |items: &[String]| items.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    for role in Role::ALL {
        let p = permissions(role, lattice);
        let account = if role.in_callers_account() { callers_account(lattice) } else { lattice_account(lattice) };
        let _ = writeln!(out, "- **{}** (account `{account}`), used by {}:", role.name(), role.used_by());
        let _ = writeln!(out, "  - publish: {}", code(&p.publish_allow));
        if !p.publish_deny.is_empty() {
            let _ = writeln!(out, "  - publish denied: {}", code(&p.publish_deny));
        }
        let _ = writeln!(out, "  - subscribe: {}", code(&p.subscribe_allow));
        if !p.subscribe_deny.is_empty() {
            let _ = writeln!(out, "  - subscribe denied: {}", code(&p.subscribe_deny));
        }
        let _ = writeln!(out, "  - answers requests it receives: {}", if p.allow_responses { "yes" } else { "no" });
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn lattice() -> LatticeName {
        LatticeName::new("prod").unwrap()
    }

    /// Whether NATS subject `subject` matches permission pattern `pattern` (`*`, `>`).
    fn matches(pattern: &str, subject: &str) -> bool {
        let (p, s): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), subject.split('.').collect());
        for (i, t) in p.iter().enumerate() {
            if *t == ">" {
                return s.len() > i;
            }
            match s.get(i) {
                Some(x) if *t == "*" || t == x => {}
                _ => return false,
            }
        }
        p.len() == s.len()
    }

    fn may_publish(role: Role, subject: &str) -> bool {
        let p = permissions(role, &lattice());
        p.publish_allow.iter().any(|a| matches(a, subject)) && !p.publish_deny.iter().any(|d| matches(d, subject))
    }

    #[test]
    fn every_subject_names_the_lattice() {
        for role in Role::ALL {
            let p = permissions(role, &lattice());
            for s in p.publish_allow.iter().chain(&p.subscribe_allow) {
                let generic = [INBOX, SERVICE_REPLIES, JS_FLOW_CONTROL].contains(&s.as_str())
                    || s.starts_with("$SRV.")
                    // the key-value provider's per-actor buckets (see `permissions`)
                    || (role == Role::Provider && (s.contains(".*") || s == "$KV.*.>"));
                assert!(generic || s.contains("prod"), "{role:?} {s}");
            }
        }
    }

    #[test]
    fn only_trusted_roles_touch_jetstream_and_only_the_host_writes_lattice_data() {
        for role in [Role::Caller, Role::Control] {
            let p = permissions(role, &lattice());
            assert!(!p.publish_allow.iter().any(|s| s.starts_with('$')), "{role:?}");
            assert!(!p.allow_responses, "{role:?}");
        }
        // The monitor reads single entries of the lattice data, nothing else of JetStream.
        let monitor = permissions(Role::Monitor, &lattice());
        assert!(!monitor.allow_responses);
        for s in monitor.publish_allow.iter().filter(|s| s.starts_with('$')) {
            assert!(s.contains("KV_LATTICEDATA_prod") && !s.contains("CREATE"), "{s}");
        }
        assert!(!may_publish(Role::Monitor, "$KV.LATTICEDATA_prod.LINKDEF_ABC"));
        assert!(may_publish(Role::Host, "$KV.LATTICEDATA_prod.LINKDEF_ABC"));
        assert!(may_publish(Role::Host, "$JS.API.STREAM.CREATE.KV_LATTICEDATA_prod"));
        assert!(!may_publish(Role::Provider, "$KV.LATTICEDATA_prod.LINKDEF_ABC"));
        assert!(!may_publish(Role::Provider, "$JS.API.STREAM.CREATE.KV_LATTICEDATA_prod"));
        assert!(may_publish(Role::Provider, "$JS.API.DIRECT.GET.KV_LATTICEDATA_prod.$KV.LATTICEDATA_prod.LINKDEF_A"));
        assert!(may_publish(Role::Provider, "$KV.kv_MABC.counter"));
        for role in Role::ALL {
            assert!(!may_publish(role, "$JS.API.STREAM.UPDATE.KV_LATTICEDATA_prod"), "{role:?}");
            assert!(!may_publish(role, "$JS.API.STREAM.DELETE.KV_LATTICEDATA_prod"), "{role:?}");
        }
    }

    #[test]
    fn callers_reach_invocations_only() {
        let p = "VCFIOX77D2ZYIUKXPLGVV7XEAVCWK2G5PSE6BEEGHICVPPD26SPROEAV";
        assert!(may_publish(Role::Caller, "wasmbus.rpc.prod.MABC"));
        assert!(may_publish(Role::Caller, &format!("wasmbus.rpc.prod.{p}.default")));
        for forbidden in [
            format!("wasmbus.rpc.prod.{p}.default.shutdown"),
            format!("wasmbus.rpc.prod.{p}.default.linkdefs.put"),
            format!("wasmbus.rpc.prod.{p}.default.health"),
            "wasmbus.rpc.other.MABC".into(),
            "wasmbus.ctl.prod.cmd.NABC.lp".into(),
            "$JS.API.DIRECT.GET.OBJ_prod".into(),
            "$KV.LATTICEDATA_prod.LINKDEF_A".into(),
        ] {
            assert!(!may_publish(Role::Caller, &forbidden), "{forbidden}");
        }
        assert!(!may_publish(Role::Provider, &format!("wasmbus.rpc.prod.{p}.default.shutdown")));
        assert!(may_publish(Role::Host, &format!("wasmbus.rpc.prod.{p}.default.shutdown")));
        assert!(!may_publish(Role::Monitor, "wasmbus.ctl.prod.cmd.NABC.lp"));
        // `lattice ui` queries (read-only) but never commands.
        assert!(may_publish(Role::Monitor, "wasmbus.ctl.prod.ping.hosts"));
        assert!(may_publish(Role::Monitor, "wasmbus.ctl.prod.get.NABC.inv"));
        assert!(may_publish(Role::Monitor, "wasmbus.ctl.prod.get.links"));
        assert!(!may_publish(Role::Monitor, "wasmbus.ctl.prod.linkdefs.put"));
        assert!(may_publish(Role::Control, "wasmbus.ctl.prod.cmd.NABC.lp"));
    }

    #[test]
    fn the_config_names_each_user_and_both_accounts() {
        let users: Vec<(Role, String)> =
            Role::ALL.iter().map(|r| (*r, format!("U{}", r.name().to_uppercase()))).collect();
        let text = render(&lattice(), &users, None);
        for (role, key) in &users {
            assert!(text.contains(&format!("nkey: \"{key}\"")), "{role:?}");
        }
        assert!(text.contains("\"LATTICE_prod\": {") && text.contains("\"CALLERS_prod\": {"));
        assert!(text.contains(r#"{ service: { account: "LATTICE_prod", subject: "wasmbus.rpc.prod.*.*" } }"#));
        // The caller is the only user of the callers' account.
        let callers = text.split("\"CALLERS_prod\": {").nth(1).unwrap();
        assert_eq!(callers.matches("nkey:").count(), 1);
        assert!(callers.contains("UCALLER"));
    }

    /// docs/SECURITY.md shows exactly what `lattice nats-config` enforces.
    #[test]
    fn security_md_lists_the_generated_roles() {
        let doc = include_str!("../../../../docs/SECURITY.md");
        let table = markdown(&LatticeName::new("{lattice}").unwrap());
        assert!(doc.contains(&table), "docs/SECURITY.md's roles table is out of date; replace it with:\n{table}");
    }
}
