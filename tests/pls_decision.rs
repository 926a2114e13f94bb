//! The decision table of a Private Link Service's connections (`pls::decide`, pure): who is approved,
//! who waits and why, when a connection is rejected, what is never touched; the official Network
//! examples through it; what the approving protocol's reports mean (`pls::after_write`); and hostile
//! input, which is left alone with a reason and never panics.

mod common;

use common::{body, with};
use mpe_approver::decision::{Approval, Failure, Observed};
use mpe_approver::pec::{parse_pec, Pec, PecStatus};
use mpe_approver::pls::{
    self, after_write, decide, Decision, MessageRules, PendingBook, PlsRules, WaitReason, WriteKind, WriteOutcome,
};
use mpe_approver::policy::{Policy, Tags};
use mpe_approver::resource_id::ResourceId;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::time::Duration;

const PROVIDER: &str = "00000000-0000-0000-0000-0000000000aa";
const CONSUMER: &str = "00000000-0000-0000-0000-0000000000cc";
const STRANGER: &str = "00000000-0000-0000-0000-0000000000ee";

fn pls_id() -> ResourceId {
    ResourceId::parse(&format!(
        "/subscriptions/{PROVIDER}/resourceGroups/rg-svc/providers/Microsoft.Network/privateLinkServices/svc"
    ))
    .unwrap()
}

fn endpoint(sub: &str) -> String {
    format!("/subscriptions/{sub}/resourceGroups/consumer-rg/providers/Microsoft.Network/privateEndpoints/pe1")
}

/// A connection of the PLS from `endpoint_id`, `status`, with `description`.
fn conn(endpoint_id: Option<&str>, status: &str, description: Option<&str>) -> Pec {
    let mut props = json!({
        "provisioningState": "Succeeded",
        "privateLinkServiceConnectionState": {"status": status, "actionsRequired": "None"},
    });
    if let Some(e) = endpoint_id {
        props["privateEndpoint"] = json!({"id": e});
    }
    if let Some(d) = description {
        props["privateLinkServiceConnectionState"]["description"] = json!(d);
    }
    parse_pec(&json!({"id": format!("{}/privateEndpointConnections/pe1.1234", pls_id()), "properties": props})).unwrap()
}

struct Setup {
    policy: Policy,
    messages: MessageRules,
    reject_after: Option<Duration>,
    dry_run: bool,
}

impl Setup {
    fn new() -> Setup {
        Setup {
            policy: Policy::parse_setting("MPE_PLS_ALLOW", "private endpoints", None).unwrap(),
            messages: MessageRules::default(),
            reject_after: None,
            dry_run: false,
        }
    }
    fn allow(mut self, rules: &str) -> Setup {
        self.policy = Policy::parse_setting("MPE_PLS_ALLOW", "private endpoints", Some(rules)).unwrap();
        self
    }
    fn messages(mut self, json: &str) -> Setup {
        self.messages = MessageRules::parse(Some(json)).unwrap();
        self
    }
    fn reject_after(mut self, d: Duration) -> Setup {
        self.reject_after = Some(d);
        self
    }
    fn dry_run(mut self) -> Setup {
        self.dry_run = true;
        self
    }
    fn rules(&self) -> PlsRules<'_> {
        PlsRules {
            policy: &self.policy,
            messages: &self.messages,
            reject_after: self.reject_after,
            dry_run: self.dry_run,
        }
    }
    fn decide(&self, p: &Pec, tags: Option<&Tags>, pending_for: Duration) -> Decision {
        decide(&pls_id(), p, tags, pending_for, &self.rules())
    }
    fn decide_now(&self, p: &Pec) -> Decision {
        self.decide(p, Some(&Tags::default()), Duration::ZERO)
    }
}

fn waits(d: &Decision) -> Option<WaitReason> {
    match d {
        Decision::Wait { reason, .. } => Some(*reason),
        _ => None,
    }
}

fn approves(d: &Decision) -> bool {
    matches!(d, Decision::Write(w) if w.kind == WriteKind::Approve)
}

const HOUR: Duration = Duration::from_secs(3600);

#[test]
fn same_subscription_is_approved_by_default_and_a_stranger_waits() {
    let s = Setup::new();
    let ours = s.decide_now(&conn(Some(&endpoint(PROVIDER)), "Pending", Some("hi")));
    let Decision::Write(w) = &ours else { panic!("{ours:?}") };
    assert_eq!(w.kind, WriteKind::Approve);
    assert_eq!(w.allowed_by.as_deref(), Some("MPE_PLS_ALLOW rule same-subscription"));
    assert_eq!(w.pec_id.parent().as_ref(), Some(&pls_id()));
    assert_eq!(w.endpoint_id, endpoint(PROVIDER));
    let stranger = s.decide_now(&conn(Some(&endpoint(STRANGER)), "Pending", Some("hi")));
    assert_eq!(waits(&stranger), Some(WaitReason::NotAllowed), "{stranger:?}");
    let Decision::Wait { why, .. } = stranger else { unreachable!() };
    assert!(why.contains("no rule allows private endpoints in") && why.contains("MPE_PLS_ALLOW unset"), "{why}");
}

#[test]
fn a_rule_or_the_allow_from_tag_admits_a_consumer_and_the_deny_tag_refuses_everyone() {
    let pending = |sub: &str| conn(Some(&endpoint(sub)), "Pending", Some("hi"));
    let s = Setup::new().allow(&format!("/subscriptions/{CONSUMER}->/subscriptions/{PROVIDER}/resourceGroups/rg-svc"));
    assert!(approves(&s.decide_now(&pending(CONSUMER))));
    assert_eq!(waits(&s.decide_now(&pending(STRANGER))), Some(WaitReason::NotAllowed));
    assert_eq!(waits(&s.decide_now(&pending(PROVIDER))), Some(WaitReason::NotAllowed), "set rules replace the default");
    // A rule naming another PLS's group does not reach this one.
    let elsewhere =
        Setup::new().allow(&format!("/subscriptions/{CONSUMER}->/subscriptions/{PROVIDER}/resourceGroups/rg-svc2"));
    assert_eq!(waits(&elsewhere.decide_now(&pending(CONSUMER))), Some(WaitReason::NotAllowed));
    // The PLS's own tags.
    let s = Setup::new();
    let from = Tags::from_pairs([("mpe-approver-allow-from", CONSUMER)]);
    let d = s.decide(&pending(CONSUMER), Some(&from), Duration::ZERO);
    let Decision::Write(w) = &d else { panic!("{d:?}") };
    assert_eq!(w.allowed_by.as_deref(), Some(format!("target tag mpe-approver-allow-from lists {CONSUMER}").as_str()));
    let deny = Tags::from_pairs([("mpe-approver", "deny")]);
    assert_eq!(waits(&s.decide(&pending(PROVIDER), Some(&deny), Duration::ZERO)), Some(WaitReason::Denied));
    let odd = Tags::from_pairs([("mpe-approver", "maybe")]);
    assert_eq!(waits(&s.decide(&pending(PROVIDER), Some(&odd), Duration::ZERO)), Some(WaitReason::Denied));
    // Tags that could not be read decide nothing.
    assert_eq!(waits(&s.decide(&pending(PROVIDER), None, Duration::ZERO)), Some(WaitReason::TagsUnread));
}

#[test]
fn a_connection_that_is_not_pending_is_never_touched() {
    let s = Setup::new().allow("*->*").reject_after(Duration::from_secs(60));
    for status in ["Approved", "Rejected", "Disconnected", "Removed", "approved", "PendingSomething"] {
        for e in [Some(endpoint(STRANGER)), Some("garbage\n".into()), None] {
            let d = s.decide(&conn(e.as_deref(), status, Some("x")), None, 1000 * HOUR);
            assert!(matches!(d, Decision::Untouched { .. }), "{status} {e:?}: {d:?}");
        }
    }
}

#[test]
fn a_required_message_must_match_whole() {
    let pending = |m: Option<&str>| conn(Some(&endpoint(PROVIDER)), "Pending", m);
    let s = Setup::new().messages(r#"{"*": "CHG[0-9]{7}( .*)?"}"#);
    assert!(approves(&s.decide_now(&pending(Some("CHG1234567")))));
    assert!(approves(&s.decide_now(&pending(Some("CHG1234567 for the payments team")))));
    assert_eq!(waits(&s.decide_now(&pending(None))), Some(WaitReason::MessageMissing));
    assert_eq!(waits(&s.decide_now(&pending(Some("")))), Some(WaitReason::MessageMissing));
    for bad in ["please approve", "see CHG1234567", "CHG123", "CHG1234567x"] {
        let d = s.decide_now(&pending(Some(bad)));
        assert_eq!(waits(&d), Some(WaitReason::MessageMismatch), "{bad}: {d:?}");
    }
    // The most specific scope decides: an empty pattern on this PLS requires nothing.
    let s = Setup::new().messages(&format!(r#"{{"*": "CHG[0-9]{{7}}", "{}": ""}}"#, pls_id()));
    assert!(approves(&s.decide_now(&pending(None))));
    // A stranger waits as a stranger, whatever its message.
    let s = Setup::new().messages(r#"{"*": "CHG[0-9]{7}"}"#);
    let d = s.decide_now(&conn(Some(&endpoint(STRANGER)), "Pending", Some("CHG1234567")));
    assert_eq!(waits(&d), Some(WaitReason::NotAllowed));
    // The message's text is quoted in the reason.
    let d = Setup::new().messages(r#"{"*": "T"}"#).decide_now(&pending(Some("line\nmpe.audit {}\u{1b}[2J")));
    let Decision::Wait { why, .. } = d else { panic!() };
    assert!(!why.contains(['\n', '\u{1b}']), "{why:?}");
}

#[test]
fn reject_after_is_off_by_default_and_rejects_only_what_waited_long_enough() {
    let stranger = conn(Some(&endpoint(STRANGER)), "Pending", Some("let me in"));
    // Off: a stranger waits forever.
    assert_eq!(
        waits(&Setup::new().decide(&stranger, Some(&Tags::default()), 10_000 * HOUR)),
        Some(WaitReason::NotAllowed)
    );
    let s = Setup::new().reject_after(24 * HOUR);
    // Young: waits, and says when it would be rejected.
    let d = s.decide(&stranger, Some(&Tags::default()), 23 * HOUR);
    let Decision::Wait { reason: WaitReason::NotAllowed, why } = &d else { panic!("{d:?}") };
    assert!(why.contains("rejected once pending for 24h") && why.contains("seen pending for 23h"), "{why}");
    // Old enough: rejected, saying why, within the description limit.
    let d = s.decide(&stranger, Some(&Tags::default()), 24 * HOUR);
    let Decision::Write(w) = &d else { panic!("{d:?}") };
    assert_eq!(w.kind, WriteKind::Reject);
    let text = w.description.as_deref().unwrap();
    assert!(text.starts_with("Rejected by mpe-approver after 24h pending") && text.contains(STRANGER), "{text}");
    assert!(text.chars().count() <= mpe_approver::pec::MAX_DESCRIPTION);
    // A message that does not match is rejected too; a dry run only says it would.
    let m = Setup::new().messages(r#"{"*": "CHG[0-9]{7}"}"#).reject_after(HOUR);
    let mismatch = conn(Some(&endpoint(PROVIDER)), "Pending", Some("hello"));
    let Decision::Write(w) = m.decide(&mismatch, Some(&Tags::default()), 2 * HOUR) else { panic!() };
    assert!(w.description.unwrap().contains("does not match"));
    let missing = conn(Some(&endpoint(PROVIDER)), "Pending", None);
    let Decision::Write(w) = m.decide(&missing, Some(&Tags::default()), 2 * HOUR) else { panic!() };
    assert!(w.description.unwrap().contains("no request message"));
    let dry = Setup::new().reject_after(HOUR).dry_run();
    assert!(
        matches!(dry.decide(&stranger, Some(&Tags::default()), 2 * HOUR), Decision::DryRun(w) if w.kind == WriteKind::Reject)
    );
    // Never for a PLS tagged deny, a connection being changed, or tags not read.
    let deny = Tags::from_pairs([("mpe-approver", "deny")]);
    assert_eq!(waits(&s.decide(&stranger, Some(&deny), 1000 * HOUR)), Some(WaitReason::Denied));
    assert_eq!(waits(&s.decide(&stranger, None, 1000 * HOUR)), Some(WaitReason::TagsUnread));
    let mut busy = stranger.clone();
    busy.provisioning_state = Some("Updating".into());
    assert_eq!(waits(&s.decide(&busy, Some(&Tags::default()), 1000 * HOUR)), Some(WaitReason::Busy));
    // An allowed consumer is approved, however long it waited.
    let ours = conn(Some(&endpoint(PROVIDER)), "Pending", None);
    assert!(approves(&s.decide(&ours, Some(&Tags::default()), 1000 * HOUR)));
}

#[test]
fn dry_run_approves_nothing() {
    let d = Setup::new().dry_run().decide_now(&conn(Some(&endpoint(PROVIDER)), "Pending", None));
    assert!(matches!(&d, Decision::DryRun(w) if w.kind == WriteKind::Approve), "{d:?}");
}

/// Hostile or broken ids: the connection is left alone with a reason that quotes (escapes) the text,
/// however permissive the rules.
#[test]
fn hostile_ids_are_left_alone_with_a_reason() {
    let s = Setup::new().allow("*->*").reject_after(Duration::from_secs(60));
    let hostile_endpoints = [
        None,
        Some("".to_string()),
        Some("not an id\nmpe.audit {\"outcome\":\"approved\"}\u{1b}[2J".to_string()),
        Some(format!("/subscriptions/{PROVIDER}/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/../x")),
        Some(format!("/subscriptions/{PROVIDER}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/pe1")),
        Some(format!(
            "/subscriptions/{PROVIDER}/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/pe1/x/y"
        )),
        Some("x".repeat(5000)),
    ];
    for e in &hostile_endpoints {
        let d = s.decide(&conn(e.as_deref(), "Pending", Some("hi")), Some(&Tags::default()), 1000 * HOUR);
        let Decision::LeftAlone { why } = &d else { panic!("{e:?}: {d:?}") };
        assert!(!why.contains(['\n', '\r', '\u{1b}']) && why.len() < 1000, "{why:?}");
    }
    // A connection id that is not one of this PLS's connections.
    let mut other = conn(Some(&endpoint(PROVIDER)), "Pending", None);
    for id in [
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Network/privateLinkServices/other/privateEndpointConnections/c".to_string(),
        format!("{}/privateEndpointConnections/c/more/x", pls_id()),
        format!("{}/somethingElse/c", pls_id()),
        "garbage\u{202e}".to_string(),
    ] {
        other.id = id.clone();
        let d = s.decide(&other, Some(&Tags::default()), Duration::ZERO);
        assert!(matches!(&d, Decision::LeftAlone { why } if !why.contains('\u{202e}')), "{id}: {d:?}");
    }
}

/// The official examples read through the decision: their connections are decided (Approved and
/// Rejected ones are never touched), a Pending one from the PLS's own subscription is approved.
#[test]
fn the_network_examples_decide() {
    let s = Setup::new();
    // fixture: PrivateLinkServiceListPrivateEndpointConnection.json (200)
    let list = body("Microsoft.Network/2025-09-01/PrivateLinkServiceListPrivateEndpointConnection.json", "200");
    let pls = ResourceId::parse(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Network/privateLinkServices/testPls",
    )
    .unwrap();
    let (pecs, bad) = mpe_approver::pec::parse_list(&list).unwrap();
    assert!(bad.is_empty());
    assert_eq!(pecs.len(), 2);
    assert!(!pls::needs_tags(&pecs), "nothing Pending: the tags are not worth a call");
    for p in &pecs {
        let d = decide(&pls, p, Some(&Tags::default()), Duration::ZERO, &s.rules());
        assert!(matches!(d, Decision::Untouched { .. }), "{d:?}");
    }
    let pending = with(&list["value"][1], "/properties/privateLinkServiceConnectionState/status", json!("Pending"));
    let p = parse_pec(&pending).unwrap();
    assert!(pls::needs_tags(std::slice::from_ref(&p)));
    assert_eq!(p.description.as_deref(), Some("rejected by some reason."));
    let d = decide(&pls, &p, Some(&Tags::default()), Duration::ZERO, &s.rules());
    let Decision::Write(w) = &d else { panic!("{d:?}") };
    assert_eq!(w.endpoint_id, "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg1/providers/Microsoft.Network/privateEndpoints/testPe2");
    // fixture: PrivateLinkServiceGetPrivateEndpointConnection.json (200), PrivateLinkServiceUpdatePrivateEndpointConnection.json (200)
    let pls = ResourceId::parse(
        "/subscriptions/subId/resourceGroups/rg1/providers/Microsoft.Network/privateLinkServices/testPls",
    )
    .unwrap();
    for (file, version) in [
        ("PrivateLinkServiceGetPrivateEndpointConnection.json", "2025-05-01"),
        ("PrivateLinkServiceUpdatePrivateEndpointConnection.json", "2025-07-01"),
    ] {
        let b = body(&format!("Microsoft.Network/{version}/{file}"), "200");
        let p = parse_pec(&b).unwrap();
        assert_eq!(p.status, PecStatus::Approved);
        assert!(matches!(
            decide(&pls, &p, Some(&Tags::default()), Duration::ZERO, &s.rules()),
            Decision::Untouched { .. }
        ));
        let asked =
            parse_pec(&with(&b, "/properties/privateLinkServiceConnectionState/status", json!("Pending"))).unwrap();
        assert!(approves(&decide(&pls, &asked, Some(&Tags::default()), Duration::ZERO, &s.rules())), "{file}");
    }
    // The update example's request: the body an approval PUTs back has the same shape.
    let request =
        common::example("Microsoft.Network/2025-07-01/PrivateLinkServiceUpdatePrivateEndpointConnection.json");
    let sent: &Value = &request["parameters"]["parameters"];
    let pending = with(&b_get(), "/properties/privateLinkServiceConnectionState/status", json!("Pending"));
    let ours = mpe_approver::pec::approval_body(&pending, "approved it for some reason.");
    assert_eq!(ours["properties"]["privateEndpoint"], sent["properties"]["privateEndpoint"]);
    assert_eq!(
        ours["properties"]["privateLinkServiceConnectionState"]["status"],
        sent["properties"]["privateLinkServiceConnectionState"]["status"]
    );
    assert_eq!(
        ours["properties"]["privateLinkServiceConnectionState"]["description"],
        sent["properties"]["privateLinkServiceConnectionState"]["description"]
    );
}

fn b_get() -> Value {
    body("Microsoft.Network/2025-05-01/PrivateLinkServiceGetPrivateEndpointConnection.json", "200")
}

/// What the approving protocol reported, read for an approval and for a rejection.
#[test]
fn what_a_write_reported_means() {
    let state = |status: &str, provisioning: Option<&str>| {
        let mut p = conn(Some(&endpoint(PROVIDER)), status, None);
        p.provisioning_state = provisioning.map(str::to_string);
        p
    };
    let sent = |p: Pec| Observed::Approval(Approval::Sent { status: 200, last: Some(p) });
    use WriteKind::{Approve, Reject};
    let table: Vec<(WriteKind, Observed, &str)> = vec![
        (Approve, sent(state("Approved", Some("Succeeded"))), "approved"),
        (Approve, sent(state("Approved", None)), "approved"),
        (Approve, sent(state("Approved", Some("Updating"))), "approval-sent"),
        (Approve, Observed::Approval(Approval::Sent { status: 202, last: None }), "approval-sent"),
        (Approve, sent(state("Rejected", Some("Succeeded"))), "changed"),
        (Reject, sent(state("Rejected", Some("Succeeded"))), "rejected"),
        (Reject, sent(state("Rejected", Some("Updating"))), "rejection-sent"),
        (Reject, sent(state("Disconnected", None)), "changed"),
        (Approve, Observed::Approval(Approval::Changed(state("Rejected", None))), "changed"),
        (Reject, Observed::Approval(Approval::Vanished), "vanished"),
        (Approve, Observed::Approval(Approval::NotApplied("412".into())), "not-applied"),
        (Approve, Observed::Failed(Failure::Forbidden("403".into())), "failed"),
        (Approve, Observed::Failed(Failure::Transient { why: "503".into(), retry_after: None }), "failed"),
        (Reject, Observed::Failed(Failure::Refused("400".into())), "failed"),
        (Approve, Observed::Refreshed, "failed"),
    ];
    for (kind, observed, code) in table {
        let out = after_write(kind, &observed);
        assert_eq!(out.code(kind), code, "{kind:?} {observed:?}: {out:?}");
        assert_eq!(out.took(), matches!(out, WriteOutcome::Done | WriteOutcome::Sent));
    }
    let forbidden = after_write(Approve, &Observed::Failed(Failure::Forbidden("403".into())));
    assert!(forbidden.to_string().contains("Microsoft.Network/privateLinkServices/privateEndpointConnections/write"));
}

#[test]
fn the_pending_book_is_bounded_and_only_delays() {
    let t0: chrono::DateTime<chrono::Utc> = "2026-12-01T10:00:00Z".parse().unwrap();
    let mut book = PendingBook::default();
    let p = |i: usize| {
        let mut c = conn(Some(&endpoint(STRANGER)), "Pending", None);
        c.id = format!("{}/privateEndpointConnections/c{i}", pls_id());
        c
    };
    for i in 0..pls::MAX_BOOK {
        book.pending_for(&p(i), t0);
    }
    assert_eq!(book.len(), pls::MAX_BOOK);
    let later = t0 + chrono::Duration::hours(5);
    assert_eq!(book.pending_for(&p(pls::MAX_BOOK), later), Duration::ZERO, "full: a new one counts from now");
    assert_eq!(
        book.pending_for(&p(pls::MAX_BOOK), later + chrono::Duration::hours(1)),
        Duration::ZERO,
        "and is not kept"
    );
    assert_eq!(book.pending_for(&p(7), later), 5 * HOUR, "the ones it holds keep their age");
    // The same connection name from another private endpoint is another connection.
    let mut moved = p(7);
    moved.endpoint_id = Some(endpoint(CONSUMER));
    assert_ne!(PendingBook::key(&moved), PendingBook::key(&p(7)));
}

proptest! {
    /// Whatever a connection holds, the decision does not panic, approves only a well-formed private
    /// endpoint of the PLS's own subscription (the default rule), and never writes a connection that
    /// is not Pending.
    #[test]
    fn no_input_panics_or_approves_a_stranger(
        ep in prop_oneof![
            Just(None),
            any::<String>().prop_map(Some),
            "[a-z0-9-]{1,12}".prop_map(|s| Some(format!("/subscriptions/{s}/resourceGroups/r/providers/Microsoft.Network/privateEndpoints/e"))),
            Just(Some(endpoint(PROVIDER))),
        ],
        status in prop_oneof![Just("Pending".to_string()), Just("Approved".to_string()), any::<String>()],
        description in proptest::option::of(any::<String>()),
        hours in 0u64..2000,
    ) {
        let s = Setup::new().reject_after(24 * HOUR).messages(r#"{"/subscriptions/zzz": "x"}"#);
        let mut props = json!({"privateLinkServiceConnectionState": {"status": status}});
        if let Some(e) = &ep { props["privateEndpoint"] = json!({"id": e}); }
        if let Some(d) = &description { props["privateLinkServiceConnectionState"]["description"] = json!(d); }
        let p = parse_pec(&json!({"id": format!("{}/privateEndpointConnections/c", pls_id()), "properties": props})).unwrap();
        let d = s.decide(&p, Some(&Tags::default()), HOUR * hours as u32);
        if p.status != PecStatus::Pending {
            prop_assert!(matches!(d, Decision::Untouched { .. }), "{:?}", d);
        }
        if let Decision::Write(w) = &d {
            if w.kind == WriteKind::Approve {
                let ours = endpoint(PROVIDER);
                prop_assert_eq!(ep.as_deref(), Some(ours.as_str()));
            }
        }
        if let Decision::LeftAlone { why } | Decision::Wait { why, .. } = &d {
            prop_assert!(!why.contains(['\n', '\r', '\u{1b}']), "{:?}", why);
        }
    }
}

fn config(pairs: &[(&str, &str)]) -> Result<mpe_approver::config::Config, mpe_approver::config::ConfigError> {
    mpe_approver::config::Config::from_lookup(|k| {
        if k == "ServiceBusConnection__fullyQualifiedNamespace" {
            return Some("ns.servicebus.windows.net".into());
        }
        pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
    })
}

/// The settings' defaults are the table's, and a bad value stops the handler at start naming its setting.
#[test]
fn the_pls_settings_default_and_refuse_bad_values_by_name() {
    let c = config(&[]).unwrap();
    assert!(c.pls.watch.is_empty(), "nothing is watched unless asked");
    assert_eq!(c.pls.schedule, "0 * * * * *");
    assert_eq!(c.pls.allow, Policy::defaults_for("MPE_PLS_ALLOW", "private endpoints"));
    assert!(c.pls.messages.is_empty());
    assert_eq!(c.pls.reject_after, None, "rejection is off by default");
    assert_eq!((c.pls.max_calls, c.budgets.pls), (100, Duration::from_secs(50)));
    let watched = config(&[
        ("MPE_PLS_WATCH", &format!("/subscriptions/{PROVIDER},{}", pls_id())),
        ("MPE_PLS_ALLOW", &format!("/subscriptions/{CONSUMER}->*")),
        ("MPE_PLS_REJECT_AFTER", "168h"),
    ])
    .unwrap();
    assert_eq!(watched.pls.watch.len(), 2);
    assert_eq!(watched.pls.reject_after, Some(168 * HOUR));
    let customers = watched.customer_subscriptions();
    assert!(customers.contains(&CONSUMER.to_string()) && customers.contains(&PROVIDER.to_string()), "{customers:?}");
    assert_eq!(watched.policy, Policy::default(), "MPE_ALLOW is untouched by MPE_PLS_ALLOW");
    for (k, v) in [
        ("MPE_PLS_WATCH", "/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/a"),
        ("MPE_PLS_WATCH", "svc"),
        ("MPE_PLS_SCHEDULE", "every minute"),
        ("MPE_PLS_ALLOW", "everyone"),
        ("MPE_PLS_REQUIRE_MESSAGE", "{\"*\": \"(\"}"),
        ("MPE_PLS_REQUIRE_MESSAGE", "CHG.*"),
        ("MPE_PLS_REJECT_AFTER", "soon"),
        ("MPE_PLS_REJECT_AFTER", "1000h"),
        ("MPE_PLS_BUDGET", "5m"),
        ("MPE_PLS_MAX_CALLS", "0"),
    ] {
        let e = config(&[(k, v)]).unwrap_err();
        assert_eq!(e.setting, k, "{v}: {e}");
    }
    // A watched PLS outside MPE_TARGET_SUBSCRIPTIONS could never be approved: refused at start.
    let e = config(&[("MPE_TARGET_SUBSCRIPTIONS", CONSUMER), ("MPE_PLS_WATCH", pls_id().as_str())]).unwrap_err();
    assert_eq!(e.setting, "MPE_PLS_WATCH");
    assert!(e.reason.contains("MPE_TARGET_SUBSCRIPTIONS"), "{e}");
    assert!(config(&[("MPE_TARGET_SUBSCRIPTIONS", PROVIDER), ("MPE_PLS_WATCH", pls_id().as_str())]).is_ok());
}
