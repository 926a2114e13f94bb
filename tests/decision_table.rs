//! `decide` walked over every MPE status × PEC situation, the safety invariants stated explicitly, the
//! schedule, and a property-style loop over random observations (own deterministic PRNG).
//! No fixtures: the views and PECs are built in code (shapes as in the ARM examples).

mod common;

use common::rid;
use mpe_approver::decision::{
    candidates, decide, readiness_seen, readiness_waiting, worth_checking, Action, Approval, Ending, Failure, MpeRead,
    Need, Outcome, ParkCode, ParkReason, PecList, Progress, Rules, Schedule, Seen, Verdict, NOT_FOUND_CONFIRM_DELAY,
    REFRESH_SETTLE, UNMATCHED_CHECKS,
};
use mpe_approver::naming::EndpointNames;
use mpe_approver::pec::{approved_description, Pec, PecStatus};
use mpe_approver::policy::{AllowList, Policy, Tags};
use mpe_approver::providers::{MpeStatus, MpeView};
use mpe_approver::readiness::{self, Readiness};
use mpe_approver::resource_id::ResourceId;
use std::time::Duration;

const TARGET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct";
const OTHER_TARGET: &str = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct2";
const MSG: &str = "Please approve mpe1";
const EP: &str = "mpe1";

fn view(status: MpeStatus) -> MpeView {
    MpeView {
        id: rid("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/mpe1"),
        target: rid(TARGET),
        group_id: Some("blob".into()),
        request_message: Some(MSG.into()),
        status,
        raw_status: "provisioningState=\"x\"".into(),
        created_at: Some(created()),
        endpoint_id: None,
        endpoint_name: None,
    }
}

/// The time the checks here run at.
fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

/// When the MPE here was created: a minute before [`now`] (new).
fn created() -> chrono::DateTime<chrono::Utc> {
    now() - chrono::Duration::minutes(1)
}

fn pec(target: &str, n: u32, endpoint: &str, status: PecStatus, group: &[&str], desc: Option<&str>) -> Pec {
    Pec {
        id: format!("{target}/privateEndpointConnections/pec{n}"),
        endpoint_id: Some(format!(
            "/subscriptions/ms/resourceGroups/managed/providers/Microsoft.Network/privateEndpoints/{endpoint}"
        )),
        status,
        description: desc.map(str::to_string),
        group_ids: group.iter().map(|s| s.to_string()).collect(),
        provisioning_state: Some("Succeeded".into()),
        etag: None,
    }
}
/// Our PEC: while Pending the target shows the MPE's request message as its description.
fn mine(n: u32, status: PecStatus) -> Pec {
    pec(TARGET, n, EP, status, &["blob"], Some(MSG))
}
/// Named like ours, another description.
fn other_msg(n: u32, status: PecStatus) -> Pec {
    pec(TARGET, n, EP, status, &["blob"], Some("Awaiting approval"))
}

const STATUSES: usize = 11;
fn mpe_status(i: usize) -> MpeStatus {
    [
        MpeStatus::Provisioning("Creating".into()),
        MpeStatus::AwaitingApproval,
        MpeStatus::ProvisionedCheckTarget,
        MpeStatus::Approved,
        MpeStatus::Rejected,
        MpeStatus::Disconnected,
        MpeStatus::Failed("provisioningState Failed".into()),
        MpeStatus::Deleting,
        MpeStatus::Unknown("status Weird".into()),
        MpeStatus::NoPrivateLink,
        MpeStatus::Reserved,
    ][i]
        .clone()
}

/// The PEC situations of the table, by name.
fn situations() -> Vec<(&'static str, Vec<Pec>)> {
    use PecStatus::*;
    vec![
        ("none", vec![]),
        ("pending", vec![mine(0, Pending)]),
        ("approved", vec![mine(0, Approved)]),
        ("rejected", vec![mine(0, Rejected)]),
        ("disconnected", vec![mine(0, Disconnected)]),
        ("unknown", vec![mine(0, Other("Weird".into()))]),
        (
            "stranger",
            vec![
                pec(TARGET, 0, "mpe10", Pending, &["blob"], Some(MSG)),
                pec(TARGET, 1, "xmpe1", Pending, &["blob"], Some(MSG)),
                pec(TARGET, 2, "mpe1.x", Pending, &["blob"], Some(MSG)),
                pec(TARGET, 3, "other", Pending, &["blob"], Some(MSG)),
            ],
        ),
        ("other-target", vec![pec(OTHER_TARGET, 0, EP, Pending, &["blob"], Some(MSG))]),
        ("other-group", vec![pec(TARGET, 0, EP, Pending, &["file"], Some(MSG))]),
        ("twins", vec![mine(0, Pending), mine(1, Pending)]),
        ("twins-one-msg", vec![other_msg(0, Pending), pec(TARGET, 1, EP, Pending, &["blob"], Some(MSG))]),
        (
            "approved+pending",
            vec![pec(TARGET, 0, EP, Approved, &["blob"], Some("Approved by admin")), mine(1, Pending)],
        ),
    ]
}

#[derive(Debug, PartialEq)]
enum Want {
    ReadTarget,
    Approve(usize),
    Again,
    Done(Outcome),
    Ambiguous,
}

fn expected(status: &MpeStatus, situation: &str) -> Want {
    use Want::*;
    match status {
        MpeStatus::Provisioning(_) | MpeStatus::Unknown(_) => Again,
        MpeStatus::Approved => Done(Outcome::AlreadyApproved),
        MpeStatus::Rejected => Done(Outcome::Rejected),
        MpeStatus::Disconnected => Done(Outcome::Disconnected),
        MpeStatus::Failed(why) => Done(Outcome::Failed(why.clone())),
        MpeStatus::Deleting => Done(Outcome::Deleted),
        MpeStatus::NoPrivateLink => Done(Outcome::NoPrivateLink),
        MpeStatus::Reserved => Done(Outcome::Reserved),
        MpeStatus::AwaitingApproval => match situation {
            "pending" => Approve(0),
            "twins" => Ambiguous,
            "twins-one-msg" | "approved+pending" => Approve(1),
            _ => Again,
        },
        MpeStatus::ProvisionedCheckTarget => match situation {
            "pending" => Approve(0),
            "approved" => Done(Outcome::AlreadyApproved),
            "rejected" => Done(Outcome::Rejected),
            "disconnected" => Done(Outcome::Disconnected),
            "twins" | "approved+pending" => Ambiguous,
            "twins-one-msg" => Approve(1),
            _ => Again,
        },
    }
}

fn early() -> Progress {
    Progress { attempt: 3, elapsed: Duration::from_secs(10), now: now() }
}

/// What [`decide`] answers for an MPE read as `v` (its id names the private endpoint), with `pecs` read
/// or not, the target untagged and the default policy.
#[derive(Debug, Clone, PartialEq)]
enum Decision {
    ReadTarget,
    Approve { pec: usize },
    CheckAgain { after: Duration, reason: String },
    Done(Outcome),
    Park { reason: ParkReason },
}

/// What a check has seen of an MPE read as `v`, with `pecs` read or not and the target untagged.
fn seen(v: &MpeView, pecs: Option<&[Pec]>, progress: Progress) -> Seen {
    Seen {
        mpe_id: v.id.clone(),
        first_seen: progress.now,
        approving: None,
        progress,
        delivery: 1,
        members: 1,
        unmatched: 0,
        mpe: Some(MpeRead::Found(Box::new(v.clone()))),
        approving_pec: None,
        pecs: pecs.map(|p| PecList::All(p.to_vec())),
        tags: Some(Tags::default()),
        approval: None,
        refreshed: false,
        failure: None,
    }
}

/// [`decide`] under the default schedule and policy.
fn answer(seen: &Seen) -> Action {
    answer_with(seen, &EndpointNames::default())
}

/// [`answer`] with the operator's naming rules `names`.
fn answer_with(seen: &Seen, names: &EndpointNames) -> Action {
    answer_learnt(seen, names, None)
}

/// [`answer_with`] with what the process learnt of readiness, `learnt`.
fn answer_learnt(seen: &Seen, names: &EndpointNames, learnt: Option<&Readiness>) -> Action {
    let (schedule, policy, any) = (Schedule::default(), Policy::default(), AllowList::default());
    let rules = Rules {
        schedule: &schedule,
        policy: &policy,
        sources: &any,
        targets: &any,
        customer_subscriptions: vec![],
        dry_run: false,
        endpoint_names: names,
        opted_in: vec!["MPE_CUSTOMER_ENDPOINTS"],
        groups: Default::default(),
        readiness: learnt,
    };
    decide(seen, &rules)
}

fn decide_on(v: &MpeView, pecs: Option<&[Pec]>, progress: Progress) -> Decision {
    match answer(&seen(v, pecs, progress)) {
        Action::Read(Need::Pecs { .. }) => Decision::ReadTarget,
        Action::Approve(a) => Decision::Approve {
            pec: pecs.and_then(|p| p.iter().position(|x| x.id == a.pec_id.as_str())).expect("approved a listed PEC"),
        },
        Action::Finish(Ending { verdict: Verdict::CheckAgain { after, reason }, .. }) => {
            Decision::CheckAgain { after, reason }
        }
        Action::Finish(Ending { verdict: Verdict::Done(o), .. }) => Decision::Done(o),
        Action::Finish(Ending { verdict: Verdict::Park { reason }, .. }) => Decision::Park { reason },
        other => panic!("unexpected {other:?}"),
    }
}

fn run(v: &MpeView, pecs: Option<&[Pec]>, progress: Progress) -> Decision {
    decide_on(v, pecs, progress)
}

/// When the decision schedules the next check of `v` at `p` (no server's wait): the next instant of its
/// parent's grid, at the interval its age and its service's ready window call for.
fn again_after(v: &MpeView, p: Progress) -> Duration {
    let s = Schedule::default();
    let age = v.created_at.and_then(|c| (p.now - c).to_std().ok()).unwrap_or(p.elapsed);
    let window = mpe_approver::providers::for_id(&v.id).and_then(|pr| pr.ready_window(&v.target));
    let interval = s.interval_for(p.attempt, age, window);
    s.on_grid(interval, p.now, mpe_approver::schedule::phase_of(&v.id), interval / 2)
}

fn matches(d: &Decision, want: &Want) -> bool {
    match (d, want) {
        (Decision::ReadTarget, Want::ReadTarget) => true,
        (Decision::Approve { pec }, Want::Approve(i)) => pec == i,
        (Decision::CheckAgain { after, reason }, Want::Again) => {
            *after == again_after(&view(MpeStatus::Unknown(String::new())), early()) && !reason.is_empty()
        }
        (Decision::Done(o), Want::Done(w)) => o == w,
        (Decision::Park { reason }, Want::Ambiguous) => reason.starts_with("ambiguous: 2 PECs could belong"),
        _ => false,
    }
}

#[test]
fn table_every_status_times_every_situation() {
    let mut rows = 0;
    for s in 0..STATUSES {
        let status = mpe_status(s);
        let v = view(status.clone());
        // Before the target is read.
        let d = run(&v, None, early());
        let want_none = match status {
            MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget => Want::ReadTarget,
            _ => expected(&status, "none"),
        };
        assert!(matches(&d, &want_none), "{status:?} without PECs read: got {d:?}, want {want_none:?}");
        for (name, pecs) in situations() {
            let d = run(&v, Some(&pecs), early());
            let want = expected(&status, name);
            assert!(matches(&d, &want), "{status:?} × {name}: got {d:?}, want {want:?}");
            rows += 1;
        }
    }
    assert_eq!(rows, STATUSES * 12);
}

#[test]
fn never_approve_unless_awaiting_or_check_target() {
    for s in 0..STATUSES {
        let status = mpe_status(s);
        if matches!(status, MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget) {
            continue;
        }
        for (name, pecs) in situations() {
            let d = run(&view(status.clone()), Some(&pecs), early());
            assert!(!matches!(d, Decision::Approve { .. }), "{status:?} × {name} approved");
            assert_ne!(d, Decision::ReadTarget, "{status:?} × {name}");
        }
    }
}

#[test]
fn never_approve_a_stranger_outside_target_other_group_or_not_pending() {
    for status in [MpeStatus::AwaitingApproval, MpeStatus::ProvisionedCheckTarget] {
        for name in ["stranger", "other-target", "other-group", "approved", "rejected", "disconnected", "unknown"] {
            let pecs = situations().into_iter().find(|(n, _)| *n == name).unwrap().1;
            let d = run(&view(status.clone()), Some(&pecs), early());
            assert!(!matches!(d, Decision::Approve { .. }), "{status:?} × {name}: {d:?}");
        }
    }
}

#[test]
fn twins_park_unless_the_request_message_singles_one_out() {
    use PecStatus::Pending;
    for status in [MpeStatus::AwaitingApproval, MpeStatus::ProvisionedCheckTarget] {
        let twins = vec![mine(0, Pending), mine(1, Pending)];
        let d = run(&view(status.clone()), Some(&twins), early());
        let Decision::Park { reason } = d else { panic!("{status:?}: twins gave {d:?}") };
        assert!(reason.contains("ambiguous"), "{reason}");
        assert!(reason.contains("pec0") && reason.contains("pec1"), "{reason}");
        // both carry the request message: still ambiguous
        let both = vec![
            pec(TARGET, 0, EP, Pending, &["blob"], Some(MSG)),
            pec(TARGET, 1, EP, Pending, &["blob"], Some(&format!(" {MSG} "))),
        ];
        assert!(matches!(run(&view(status.clone()), Some(&both), early()), Decision::Park { .. }));
        // the MPE has no request message: nothing singles one out
        let mut v = view(status.clone());
        v.request_message = None;
        let one = vec![other_msg(0, Pending), pec(TARGET, 1, EP, Pending, &["blob"], Some(MSG))];
        assert!(matches!(run(&v, Some(&one), early()), Decision::Park { .. }));
        // the request message singles one out
        assert_eq!(run(&view(status), Some(&one), early()), Decision::Approve { pec: 1 });
    }
}

#[test]
fn approved_and_pending_pair() {
    let pair = situations().into_iter().find(|(n, _)| *n == "approved+pending").unwrap().1;
    assert_eq!(run(&view(MpeStatus::AwaitingApproval), Some(&pair), early()), Decision::Approve { pec: 1 });
    let d = run(&view(MpeStatus::ProvisionedCheckTarget), Some(&pair), early());
    assert!(matches!(&d, Decision::Park { reason } if reason.contains("ambiguous")), "{d:?}");
}

#[test]
fn endpoint_name_comparison_is_whole_segment_case_insensitive() {
    use PecStatus::Pending;
    let v = view(MpeStatus::AwaitingApproval);
    let pecs = vec![
        pec(TARGET, 0, "MPE1", Pending, &[], None),
        pec(TARGET, 1, "mpe1x", Pending, &[], None),
        pec(
            "/subscriptions/S/resourcegroups/RG/providers/microsoft.storage/storageaccounts/ACCT",
            2,
            "mpe1",
            Pending,
            &["BLOB"],
            None,
        ),
        pec(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct/../acct2",
            3,
            "mpe1",
            Pending,
            &[],
            None,
        ),
        Pec { endpoint_id: None, ..mine(4, Pending) },
        Pec { endpoint_id: Some(String::new()), ..mine(5, Pending) },
        Pec { id: "{bad id}".into(), ..mine(6, Pending) },
        Pec { endpoint_id: Some("mpe1/".into()), ..mine(7, Pending) },
    ];
    assert_eq!(candidates(&v, Some(EP), &pecs), vec![0, 2, 7]);
    let mut no_group = v.clone();
    no_group.group_id = None;
    assert_eq!(candidates(&no_group, Some(EP), &[pec(TARGET, 0, EP, Pending, &["file"], None)]), vec![0]);
}

#[test]
fn mpe_gone_is_deleted() {
    // A 404 is read again a moment later (ARM's reads may lag its writes); a second 404 ends the chain.
    let mut s = seen(&view(MpeStatus::AwaitingApproval), None, early());
    s.mpe = Some(MpeRead::Missing { reads: 1 });
    assert!(
        matches!(answer(&s), Action::Read(Need::Mpe { after, .. }) if after == NOT_FOUND_CONFIRM_DELAY),
        "{:?}",
        answer(&s)
    );
    s.mpe = Some(MpeRead::Missing { reads: 2 });
    assert!(matches!(answer(&s), Action::Finish(Ending { verdict: Verdict::Done(Outcome::Deleted), .. })));
}

#[test]
fn gives_up_near_give_up_after() {
    let s = Schedule::default();
    let pending_nothing: Vec<Pec> = vec![];
    for status in
        [MpeStatus::Provisioning("Creating".into()), MpeStatus::Unknown("x".into()), MpeStatus::AwaitingApproval]
    {
        let v = view(status.clone());
        let late = Progress { attempt: 500, elapsed: s.give_up_after - Duration::from_secs(1), now: now() };
        let d = decide_on(&v, Some(&pending_nothing), late);
        let Decision::Park { reason } = d else { panic!("{status:?}: {d:?}") };
        assert!(reason.starts_with("gave up after 7199s and 501 checks"), "{reason}");
        assert!(reason.contains(&v.raw_status), "{reason}");
        // with time to spare it checks again
        let ok = Progress { attempt: 500, elapsed: s.give_up_after - Duration::from_secs(60), now: now() };
        let d = decide_on(&v, Some(&pending_nothing), ok);
        assert!(matches!(&d, Decision::CheckAgain { after, .. } if *after == again_after(&v, ok)), "{d:?}");
    }
    // a pending PEC is approved even at the last moment: giving up concerns waiting only
    let pecs = vec![mine(0, PecStatus::Pending)];
    let v = view(MpeStatus::AwaitingApproval);
    let late = Progress { attempt: 500, elapsed: s.give_up_after + Duration::from_secs(1), now: now() };
    assert_eq!(decide_on(&v, Some(&pecs), late), Decision::Approve { pec: 0 });
}

// ---------------------------------------------------------------- schedule

#[test]
fn schedule_parsing() {
    let d = Duration::from_secs;
    let (steps, then) = Schedule::parse_steps("2s*15,3s*20,10s*24,30s").unwrap();
    let def = Schedule::default();
    assert_eq!(steps, def.steps);
    assert_eq!(then, def.then);
    assert_eq!(Schedule::parse_steps("5s").unwrap(), (vec![], d(5)));
    assert_eq!(
        Schedule::parse_steps(" 1500ms * 2 , 1m*1, 1h ").unwrap(),
        (vec![(Duration::from_millis(1500), 2), (d(60), 1)], d(3600))
    );
    assert_eq!(Schedule::parse_steps("0.5s*4,2min").unwrap(), (vec![(Duration::from_millis(500), 4)], d(120)));
    for bad in [
        "", " ", "2s*15", "2s,3s", "0s", "2s*0,3s", "0s*3,3s", "2s*-1,3s", "2s*x,3s", "2x*3,4s", "abc", "5", "s",
        "-1s", "2s*15,", ",2s", "31d", "1000h", "NaNs", "infs", "2s**3,4s",
    ] {
        let e = Schedule::parse_steps(bad).expect_err(bad);
        assert_eq!(e.input, bad);
        assert!(!e.reason.is_empty());
    }
}

#[test]
fn default_interval_per_attempt() {
    let s = Schedule::default();
    let d = Duration::from_secs;
    for a in 0..15 {
        assert_eq!(s.interval(a), d(2), "attempt {a}");
    }
    for a in 15..35 {
        assert_eq!(s.interval(a), d(3), "attempt {a}");
    }
    for a in 35..59 {
        assert_eq!(s.interval(a), d(10), "attempt {a}");
    }
    for a in [59, 60, 1000, u32::MAX] {
        assert_eq!(s.interval(a), d(30), "attempt {a}");
    }
    // 15×2 + 20×3 + 24×10 = 330 s = 5.5 min of stepped checks
    let total: Duration = (0..59).map(|a| s.interval(a)).sum();
    assert_eq!(total, d(330));
}

// ---------------------------------------------------------------- property-style loop

/// xorshift64*: small, deterministic, good enough to shuffle test cases.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}

fn is_ours(v: &MpeView, endpoint: &str, p: &Pec) -> bool {
    let under = ResourceId::parse(&p.id).map(|id| v.target.contains(&id)).unwrap_or(false);
    let named = p
        .endpoint_id
        .as_deref()
        .and_then(|e| e.trim_end_matches('/').rsplit('/').next())
        .is_some_and(|n| n.eq_ignore_ascii_case(endpoint));
    let group = match &v.group_id {
        Some(g) if !p.group_ids.is_empty() => p.group_ids.iter().any(|x| x.eq_ignore_ascii_case(g)),
        _ => true,
    };
    under && named && group
}

#[test]
fn random_observations_keep_the_safety_invariant() {
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let targets = [
        TARGET,
        "/subscriptions/S/resourcegroups/RG/providers/microsoft.storage/storageaccounts/ACCT",
        OTHER_TARGET,
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/ac",
        "/subscriptions/s/resourceGroups/rg2/providers/Microsoft.Storage/storageAccounts/acct",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct?x=1",
        "not an id",
    ];
    let names = ["mpe1", "MPE1", "mpe10", "xmpe1", "mpe", "other", "f.mpe1"];
    let groups: [&[&str]; 4] = [&[], &["blob"], &["BLOB", "file"], &["file"]];
    let descs = [None, Some(MSG), Some("Awaiting approval"), Some("")];
    let statuses = [
        PecStatus::Pending,
        PecStatus::Approved,
        PecStatus::Rejected,
        PecStatus::Disconnected,
        PecStatus::Other("Weird".into()),
    ];
    let (mut approvals, mut parks, mut agains) = (0, 0, 0);
    for case in 0..20_000 {
        let mut v = view(mpe_status(rng.below(STATUSES)));
        v.group_id = rng.pick(&[None, Some("blob".to_string()), Some("Blob".to_string())]);
        v.request_message = rng.pick(&[None, Some(MSG.to_string())]);
        v.created_at = rng.pick(&[
            Some(created()),
            Some(created()),
            Some(now() - chrono::Duration::hours(3)),
            Some(now() + chrono::Duration::days(2)),
            None,
        ]);
        let new = v.created_at.is_some_and(|c| c <= now() && now() - c <= chrono::Duration::hours(2));
        let endpoint = rng.pick(&["mpe1", "Mpe1"]);
        let n = rng.below(5);
        let pecs: Vec<Pec> = (0..n)
            .map(|i| {
                let mut p = pec(
                    rng.pick(&targets),
                    i as u32,
                    rng.pick(&names),
                    rng.pick(&statuses),
                    rng.pick(&groups),
                    rng.pick(&descs),
                );
                if rng.below(10) == 0 {
                    p.endpoint_id = None;
                }
                p
            })
            .collect();
        let read = rng.below(8) != 0;
        let progress = Progress {
            attempt: rng.below(200) as u32,
            elapsed: Duration::from_secs(rng.pick(&[0u64, 10, 600, 7100, 7199, 8000])),
            now: now(),
        };
        // The private endpoint is named after the MPE (Data Explorer's rule), in either case.
        v.id = rid(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Kusto/clusters/c/managedPrivateEndpoints/{endpoint}"
        ));
        let d = decide_on(&v, read.then_some(&pecs[..]), progress);
        let awaiting = matches!(v.status, MpeStatus::AwaitingApproval | MpeStatus::ProvisionedCheckTarget);
        match &d {
            Decision::Approve { pec: i } => {
                approvals += 1;
                assert!(read, "case {case}: approved without reading the target");
                let p = &pecs[*i];
                assert!(awaiting, "case {case}: approved while {:?}", v.status);
                if v.status == MpeStatus::ProvisionedCheckTarget {
                    assert!(new, "case {case}: approved a Data Explorer MPE that is not new ({:?})", v.created_at);
                }
                assert_eq!(p.status, PecStatus::Pending, "case {case}: approved a non-pending PEC");
                assert!(v.target.contains(&rid(&p.id)), "case {case}: outside target {}", p.id);
                assert!(is_ours(&v, endpoint, p), "case {case}: approved a stranger {p:?}");
                // unique: no other pending PEC of ours unless the request message picked this one
                let others = pecs
                    .iter()
                    .enumerate()
                    .filter(|(j, q)| j != i && q.status == PecStatus::Pending && is_ours(&v, endpoint, q))
                    .count();
                if others > 0 {
                    assert_eq!(p.description.as_deref(), v.request_message.as_deref(), "case {case}");
                }
            }
            Decision::ReadTarget => {
                assert!(!read && awaiting, "case {case}: {d:?}");
            }
            Decision::Park { reason } => {
                parks += 1;
                match reason.code {
                    ParkCode::Ambiguous | ParkCode::GaveUp => {}
                    ParkCode::EvidenceMismatch | ParkCode::NotNew => {
                        assert_eq!(v.status, MpeStatus::ProvisionedCheckTarget, "case {case}: {reason}")
                    }
                    other => panic!("case {case}: parked {other}: {reason}"),
                }
            }
            Decision::CheckAgain { after, .. } => {
                agains += 1;
                assert_eq!(*after, again_after(&v, progress));
            }
            Decision::Done(_) => {}
        }
        // Liveness: awaiting approval with exactly one pending PEC of ours, read, and no give-up → approve it.
        if read && v.status == MpeStatus::AwaitingApproval {
            let ours: Vec<usize> = (0..pecs.len())
                .filter(|&j| pecs[j].status == PecStatus::Pending && is_ours(&v, endpoint, &pecs[j]))
                .collect();
            if ours.len() == 1 {
                assert_eq!(d, Decision::Approve { pec: ours[0] }, "case {case}");
            }
        }
    }
    // the generator reaches every branch often enough to mean something
    assert!(approvals > 40 && parks > 300 && agains > 3000, "{approvals} {parks} {agains}");
}

/// The sweep queues a check of what is not known to be approved: a Data Explorer MPE (whose MPE never
/// reports its connection) only while it is new, so an approved one is not checked night after night,
/// and an old one, whose connection may have been approved and deleted since, is never re-decided.
#[test]
fn the_sweep_checks_data_explorer_only_while_it_is_new() {
    let s = Schedule::default();
    let de = |created: Option<chrono::DateTime<chrono::Utc>>| MpeView {
        created_at: created,
        endpoint_id: None,
        ..view(MpeStatus::ProvisionedCheckTarget)
    };
    assert!(worth_checking(&de(Some(created())), now(), &s));
    assert!(worth_checking(&de(Some(now() - chrono::Duration::from_std(s.give_up_after).unwrap())), now(), &s));
    assert!(!worth_checking(&de(Some(now() - chrono::Duration::hours(3))), now(), &s), "older than the give-up time");
    assert!(!worth_checking(&de(Some(now() + chrono::Duration::days(1))), now(), &s), "created in the future");
    assert!(!worth_checking(&de(None), now(), &s), "creation not reported");
    for (status, worth) in [
        (MpeStatus::AwaitingApproval, true),
        (MpeStatus::Provisioning("Creating".into()), true),
        (MpeStatus::Unknown("x".into()), true),
        (MpeStatus::Approved, false),
        (MpeStatus::Rejected, false),
        (MpeStatus::Disconnected, false),
        (MpeStatus::Deleting, false),
        (MpeStatus::NoPrivateLink, false),
        (MpeStatus::Reserved, false),
    ] {
        let old = MpeView { created_at: Some(now() - chrono::Duration::days(30)), ..view(status.clone()) };
        assert_eq!(worth_checking(&old, now(), &s), worth, "{status:?}");
    }
}

// ---------------------------------------------------------------- one pass: reads, approval reports, failures

/// What the decision finishes with, or `None` when it asks for more.
fn verdict(a: &Action) -> Option<&Verdict> {
    match a {
        Action::Finish(Ending { verdict, .. }) => Some(verdict),
        _ => None,
    }
}

/// A check reads only what the decision needs: the MPE first, the PEC list once the MPE awaits
/// approval with the target's tags beside it (the approval needs both: one step, not two), the tags
/// alone once a PEC is chosen where they are not in yet, and it approves only when all of them are in.
/// An MPE whose PEC decides (Data Explorer) reads no tags with the list: most of its checks wait.
#[test]
fn a_check_reads_only_what_the_decision_needs() {
    let v = view(MpeStatus::AwaitingApproval);
    let mut s = seen(&v, None, early());
    s.mpe = None;
    s.tags = None;
    assert!(matches!(answer(&s), Action::Read(Need::Mpe { after, .. }) if after.is_zero()));
    s.mpe = Some(MpeRead::Found(Box::new(v.clone())));
    assert!(matches!(answer(&s), Action::Read(Need::Pecs { with_tags: true, .. })));
    s.tags = Some(Tags::default());
    assert!(
        matches!(answer(&s), Action::Read(Need::Pecs { with_tags: false, .. })),
        "tags already read are not read again"
    );
    s.tags = None;
    let mut adx = seen(&view(MpeStatus::ProvisionedCheckTarget), None, early());
    adx.tags = None;
    assert!(matches!(answer(&adx), Action::Read(Need::Pecs { with_tags: false, .. })));
    s.pecs = Some(PecList::All(vec![other_msg(0, PecStatus::Approved)]));
    assert!(matches!(verdict(&answer(&s)), Some(Verdict::CheckAgain { .. })), "waiting reads no tags");
    s.pecs = Some(PecList::All(vec![mine(0, PecStatus::Pending)]));
    assert!(matches!(answer(&s), Action::Read(Need::Tags { .. })));
    s.tags = Some(Tags::default());
    let Action::Approve(a) = answer(&s) else { panic!("{:?}", answer(&s)) };
    assert_eq!(a.pec_id.as_str(), mine(0, PecStatus::Pending).id);
    assert_eq!(a.incarnation, v.incarnation(), "the marker names this incarnation");
    // Still provisioning: nothing but the MPE is read.
    let mut p = seen(&view(MpeStatus::Provisioning("Creating".into())), None, early());
    p.tags = None;
    assert!(matches!(verdict(&answer(&p)), Some(Verdict::CheckAgain { .. })));
}

/// What the approving protocol reports is decided by the same decision: a PEC that changed before our
/// PUT by its new state, an accepted PUT by what was read after it.
#[test]
fn the_approving_protocols_reports_are_decided_by_the_same_decision() {
    let v = view(MpeStatus::AwaitingApproval);
    let ours = mine(0, PecStatus::Pending);
    let mut s = seen(&v, Some(std::slice::from_ref(&ours)), early());
    let with = |s: &Seen, a: Approval| {
        let mut s = s.clone();
        s.approval = Some(a);
        answer(&s)
    };
    let approved_by_us = Pec {
        status: PecStatus::Approved,
        description: Some(approved_description(ours.description.as_deref(), &v.id, v.incarnation().as_deref())),
        ..ours.clone()
    };
    let by_a_human = Pec { status: PecStatus::Approved, description: Some("ok".into()), ..ours.clone() };
    let rejected = Pec { status: PecStatus::Rejected, ..ours.clone() };
    let elsewhere =
        Pec { endpoint_id: Some("/subscriptions/x/providers/n/privateEndpoints/other".into()), ..ours.clone() };
    let cases: Vec<(Approval, &str)> = vec![
        (Approval::Changed(approved_by_us.clone()), "approved"),
        (Approval::Changed(by_a_human.clone()), "already-approved"),
        (Approval::Changed(rejected.clone()), "rejected"),
        (Approval::Changed(elsewhere), "check-again"),
        (Approval::Vanished, "check-again"),
        (Approval::NotApplied("HTTP 412".into()), "check-again"),
        (Approval::Sent { status: 200, last: Some(approved_by_us.clone()) }, "approved"),
        (Approval::Sent { status: 202, last: Some(rejected) }, "rejected"),
        (Approval::Sent { status: 202, last: Some(ours.clone()) }, "check-again confirming"),
        (Approval::Sent { status: 202, last: None }, "check-again confirming"),
    ];
    for (report, want) in cases {
        let got = with(&s, report.clone());
        let Action::Finish(Ending { verdict, about }) = &got else { panic!("{report:?}: {got:?}") };
        let name = match verdict {
            Verdict::Done(o) => o.code().to_string(),
            Verdict::CheckAgain { .. } if about.approving.is_some() => "check-again confirming".into(),
            Verdict::CheckAgain { .. } => "check-again".into(),
            other => format!("{other:?}"),
        };
        assert_eq!(name, want, "{report:?}");
        assert_eq!(about.pec_id.as_deref(), Some(ours.id.as_str()), "the audit names the PEC: {report:?}");
    }
    // The next check confirms the approval it was handed: once our PEC reads approved, the chain ends
    // `approved` (the one approval audit line); Pending again is decided afresh.
    s.approving = Some(ours.id.clone());
    s.approving_pec = Some(Some(approved_by_us));
    assert_eq!(verdict(&answer(&s)), Some(&Verdict::Done(Outcome::Approved)));
    s.approving_pec = Some(Some(ours.clone()));
    assert!(matches!(answer(&s), Action::Approve(_)));
    s.approving_pec = Some(Some(by_a_human));
    assert_eq!(verdict(&answer(&s)), Some(&Verdict::Done(Outcome::AlreadyApproved)));
}

/// A failed read ends the check: a server's wait is honoured by scheduling the check for its end (on the
/// parent's grid: within one more interval), other transient trouble is delivered again while
/// deliveries are few and checked again later after that; a refusal parks.
#[test]
fn failures_end_the_check_by_one_rule() {
    let mut s = seen(&view(MpeStatus::AwaitingApproval), None, early());
    s.mpe = None;
    let transient = |retry_after| Failure::Transient { why: "ARM 503".into(), retry_after };
    s.failure = Some(transient(None));
    assert!(matches!(verdict(&answer(&s)), Some(Verdict::Redeliver { .. })));
    for (wait, attempt) in [(1, 0), (2, 3), (60, 7)] {
        s.progress.attempt = attempt;
        s.failure = Some(transient(Some(Duration::from_secs(wait))));
        let (lo, hi) = (Duration::from_secs(wait), Duration::from_secs(wait) + Duration::from_millis(2400));
        assert!(
            matches!(verdict(&answer(&s)), Some(Verdict::CheckAgain { after, .. }) if *after >= lo && *after <= hi),
            "a Retry-After of {wait} s is honoured by scheduling, never by a redelivery that would arrive inside it"
        );
    }
    s.progress.attempt = 0;
    s.delivery = 3;
    s.failure = Some(transient(None));
    assert!(
        matches!(verdict(&answer(&s)), Some(Verdict::CheckAgain { after, .. }) if *after >= Duration::from_secs(30)),
        "from the third delivery on the check is scheduled, not redelivered"
    );
    for (f, code) in [
        (Failure::Forbidden("403".into()), ParkCode::Forbidden),
        (Failure::Refused("400".into()), ParkCode::ArmRefused),
        (Failure::Unreadable("{".into()), ParkCode::UnreadableResponse),
    ] {
        s.failure = Some(f);
        assert!(matches!(verdict(&answer(&s)), Some(Verdict::Park { reason }) if reason.code == code));
    }
    // A forged work item is parked before anything is read.
    let mut forged = seen(&view(MpeStatus::AwaitingApproval), None, early());
    forged.mpe = None;
    forged.first_seen = now() + chrono::Duration::days(1);
    assert!(
        matches!(verdict(&answer(&forged)), Some(Verdict::Park { reason }) if reason.code == ParkCode::InvalidInput)
    );
}

/// Once a PEC carries our marker for this MPE and is approved, no other candidate is approved for it,
/// whatever the MPE still reports: a service that lags (its MPE still says pending after our approval)
/// must not let a stranger's pending PEC with the same name, group and request message through. One we
/// approved that a human rejected or removed since blocks the others too.
#[test]
fn a_pec_approved_for_this_mpe_ends_its_matching_for_every_status() {
    for status in [MpeStatus::AwaitingApproval, MpeStatus::ProvisionedCheckTarget] {
        let v = view(status.clone());
        let ours = |n: u32, st: PecStatus| Pec {
            status: st,
            description: Some(approved_description(Some(MSG), &v.id, v.incarnation().as_deref())),
            ..mine(n, PecStatus::Pending)
        };
        let stranger = mine(1, PecStatus::Pending);
        let approved = vec![ours(0, PecStatus::Approved), stranger.clone()];
        assert_eq!(run(&v, Some(&approved), early()), Decision::Done(Outcome::AlreadyApproved), "{status:?}");
        for decided in [PecStatus::Rejected, PecStatus::Disconnected] {
            let pecs = vec![ours(0, decided.clone()), stranger.clone()];
            let d = run(&v, Some(&pecs), early());
            assert!(
                matches!(&d, Decision::Park { reason } if reason.code == ParkCode::NotNew),
                "{status:?} ours {decided:?}: {d:?}"
            );
        }
        // Where the MPE reports its connection but not when it was created, a disconnected PEC with our
        // marker may be an earlier MPE's: the MPE's own "pending" is believed.
        if status == MpeStatus::AwaitingApproval {
            let mut unknown = v.clone();
            unknown.created_at = None;
            let old = Pec {
                status: PecStatus::Disconnected,
                description: Some(approved_description(Some(MSG), &v.id, None)),
                ..mine(0, PecStatus::Pending)
            };
            assert_eq!(run(&unknown, Some(&[old.clone(), stranger.clone()]), early()), Decision::Approve { pec: 1 });
            let approved = Pec { status: PecStatus::Approved, ..old };
            assert_eq!(
                run(&unknown, Some(&[approved, stranger.clone()]), early()),
                Decision::Done(Outcome::AlreadyApproved),
                "an approved PEC with our marker is a live connection, whatever the incarnation"
            );
        }
        // A leftover we approved for an earlier MPE of the same name does not count as ours.
        let mut earlier = ours(0, PecStatus::Approved);
        earlier.description = Some(approved_description(Some(MSG), &v.id, Some("0000")));
        let pecs = vec![earlier, stranger.clone()];
        assert_eq!(run(&v, Some(&pecs), early()), Decision::Approve { pec: 1 }, "{status:?}");
    }
}

/// A service that does not publish its private endpoint's name (AI Search): the PEC is matched on the
/// MPE's request message, which must single out one pending PEC; a twin carrying the same message parks,
/// and an MPE without a message is never matched.
#[test]
fn without_a_published_name_the_request_message_must_single_out_one_pec() {
    use mpe_approver::evidence::{choose, Match};
    let v = view(MpeStatus::AwaitingApproval);
    let by_any_name =
        |n: u32, desc: &str| pec(TARGET, n, &format!("managed-{n}"), PecStatus::Pending, &["blob"], Some(desc));
    assert_eq!(choose(&v, None, &[by_any_name(0, MSG)], &[]), Match::Approve(0));
    assert_eq!(choose(&v, None, &[by_any_name(0, "someone else's"), by_any_name(1, MSG)], &[]), Match::Approve(1));
    assert!(matches!(choose(&v, None, &[by_any_name(0, "someone else's")], &[]), Match::Wait(_)));
    let twins = choose(&v, None, &[by_any_name(0, MSG), by_any_name(1, MSG)], &[]);
    assert!(matches!(&twins, Match::Park(r) if r.code == ParkCode::Ambiguous), "{twins:?}");
    let in_other_group = pec(TARGET, 0, "x", PecStatus::Pending, &["file"], Some(MSG));
    assert!(matches!(choose(&v, None, &[in_other_group], &[]), Match::Wait(_)));
    // Once approved (our marker appended to the message), ours ends the matching: a twin stays pending.
    let ours = Pec {
        status: PecStatus::Approved,
        description: Some(approved_description(Some(MSG), &v.id, v.incarnation().as_deref())),
        ..by_any_name(0, MSG)
    };
    assert_eq!(choose(&v, None, &[ours, by_any_name(1, MSG)], &[]), Match::Ended(Outcome::AlreadyApproved));
    let mut silent = v.clone();
    silent.request_message = None;
    let d = choose(&silent, None, &[by_any_name(0, MSG)], &[]);
    assert!(matches!(&d, Match::Park(r) if r.code == ParkCode::EvidenceMismatch), "{d:?}");
}

/// A service whose MPE reports an approval only once asked to refresh (Managed Grafana): a check that
/// approves our PEC asks for the refresh, checks again soon confirming on that PEC, and the chain ends
/// `approved` once the refreshed MPE says so; while the MPE still says Pending each check refreshes
/// again; a refresh that fails ends the check by the failure rule.
#[test]
fn a_refreshing_service_ends_on_what_the_refreshed_mpe_says() {
    let id =
        rid("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Dashboard/grafana/g1/managedPrivateEndpoints/mpe1");
    let v = MpeView { id: id.clone(), ..view(MpeStatus::AwaitingApproval) };
    let ep = "grafana-g1-mpe1";
    let ours = pec(TARGET, 0, ep, PecStatus::Pending, &["blob"], Some(MSG));
    let approved = Pec {
        status: PecStatus::Approved,
        description: Some(approved_description(Some(MSG), &id, v.incarnation().as_deref())),
        ..ours.clone()
    };
    let mut s = seen(&v, Some(std::slice::from_ref(&ours)), early());
    assert!(matches!(answer(&s), Action::Approve(a) if a.pec_id.as_str() == ours.id), "{:?}", answer(&s));
    s.approval = Some(Approval::Sent { status: 200, last: Some(approved.clone()) });
    let refresh =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Dashboard/grafana/g1/refreshManagedPrivateEndpoints";
    assert_eq!(answer(&s), Action::Read(Need::Refresh { path: refresh.into(), api_version: "2025-08-01" }));
    s.refreshed = true;
    let Action::Finish(Ending { verdict: Verdict::CheckAgain { after, .. }, about }) = answer(&s) else {
        panic!("{:?}", answer(&s))
    };
    assert!(after >= REFRESH_SETTLE, "{after:?}");
    assert_eq!(about.approving.as_deref(), Some(ours.id.as_str()), "the next check confirms on our PEC");

    // The next check: the MPE still says Pending → refresh again; says Approved → the chain ends approved.
    let mut next = seen(&v, None, early());
    next.approving = Some(ours.id.clone());
    next.approving_pec = Some(Some(approved.clone()));
    assert!(matches!(answer(&next), Action::Read(Need::Refresh { .. })), "{:?}", answer(&next));
    let mut done = next.clone();
    done.mpe = Some(MpeRead::Found(Box::new(MpeView { status: MpeStatus::Approved, ..v.clone() })));
    assert_eq!(verdict(&answer(&done)), Some(&Verdict::Done(Outcome::Approved)));

    // A chain that finds our approved PEC by listing (a sweep, a replay) refreshes too.
    let listed = seen(&v, Some(std::slice::from_ref(&approved)), early());
    assert!(matches!(answer(&listed), Action::Read(Need::Refresh { .. })), "{:?}", answer(&listed));

    // The refresh refused: the failure rule (a 403 parks `forbidden`, naming what failed).
    next.failure = Some(Failure::Forbidden("asking the service to refresh its MPEs: HTTP 403".into()));
    let parked = verdict(&answer(&next)).cloned();
    assert!(matches!(&parked, Some(Verdict::Park { reason }) if reason.code == ParkCode::Forbidden), "{parked:?}");

    // A service that follows its connection by itself never refreshes.
    let mut kusto =
        seen(&view(MpeStatus::AwaitingApproval), Some(std::slice::from_ref(&mine(0, PecStatus::Pending))), early());
    kusto.approval = Some(Approval::Sent {
        status: 200,
        last: Some(Pec {
            status: PecStatus::Approved,
            description: Some(approved_description(
                Some(MSG),
                &kusto.mpe_id,
                view(MpeStatus::AwaitingApproval).incarnation().as_deref(),
            )),
            ..mine(0, PecStatus::Pending)
        }),
    });
    assert_eq!(verdict(&answer(&kusto)), Some(&Verdict::Done(Outcome::Approved)));
}

/// A resource that connects to nothing privately (a Front Door origin without a private link, read with
/// its own id as the target) ends its check at once as `no-private-link`: its target is never read, not
/// even the PEC a previous check of the chain approved (the origin's private link was removed since), it
/// never waits, gives up or parks, and the sweep does not queue it.
#[test]
fn a_resource_without_a_private_link_ends_its_check_quietly() {
    let mut v = view(MpeStatus::NoPrivateLink);
    v.target = v.id.clone();
    v.group_id = None;
    v.request_message = None;
    let late = Progress { attempt: 500, elapsed: Schedule::default().give_up_after * 2, now: now() };
    for progress in [early(), late] {
        assert_eq!(run(&v, None, progress), Decision::Done(Outcome::NoPrivateLink), "{progress:?}");
        assert_eq!(run(&v, Some(&[mine(0, PecStatus::Pending)]), progress), Decision::Done(Outcome::NoPrivateLink));
    }
    let mut s = seen(&v, None, early());
    s.approving = Some(format!("{TARGET}/privateEndpointConnections/pec0"));
    let Action::Finish(Ending { verdict, about }) = answer(&s) else { panic!("{:?}", answer(&s)) };
    assert_eq!(verdict, Verdict::Done(Outcome::NoPrivateLink));
    assert_eq!(about, Default::default(), "about no PEC, confirming nothing");
    let s = Schedule::default();
    assert!(!worth_checking(&v, now(), &s), "the sweep skips it");
    assert_eq!(Outcome::NoPrivateLink.code(), "no-private-link");
    assert_eq!(Outcome::NoPrivateLink.to_string(), "no private link: nothing to approve");
}

/// When no PEC is named for an MPE that reports its connection pending while others of its group are
/// pending at the target, the check says so (`about.unmatched`, counted by the work item) and the
/// [`UNMATCHED_CHECKS`]th such check in a row parks `no-matching-pec`, naming each other PEC's private
/// endpoint and subscription escaped. Pending PECs that cannot be the MPE's (another group, a customer
/// subscription) and an MPE not reporting pending are no such sign; an operator's rule
/// (`MPE_ENDPOINT_NAMES`) replaces the provider's.
#[test]
fn a_pending_mpe_without_a_named_pec_among_pending_others_parks_no_matching_pec() {
    let v = view(MpeStatus::AwaitingApproval);
    let hostile = "renamed\n\u{1b}[31mINFO: approved";
    let others = [pec(TARGET, 0, hostile, PecStatus::Pending, &["blob"], Some("x"))];
    let with = |unmatched: u32, pecs: &[Pec], names: &EndpointNames| {
        let mut s = seen(&v, Some(pecs), early());
        s.unmatched = unmatched;
        answer_with(&s, names)
    };
    let none = EndpointNames::default();
    for n in 0..UNMATCHED_CHECKS - 1 {
        let Action::Finish(Ending { verdict: Verdict::CheckAgain { reason, .. }, about }) = with(n, &others, &none)
        else {
            panic!("{:?}", with(n, &others, &none))
        };
        assert!(about.unmatched, "{reason}");
        assert!(reason.contains("no-matching-pec"), "{reason}");
    }
    let Some(Verdict::Park { reason }) = verdict(&with(UNMATCHED_CHECKS - 1, &others, &none)).cloned() else {
        panic!("{:?}", with(UNMATCHED_CHECKS - 1, &others, &none))
    };
    assert_eq!(reason.code, ParkCode::NoMatchingPec);
    assert!(reason.text.contains("renamed") && reason.text.contains("subscription \"ms\""), "{}", reason.text);
    assert!(!reason.text.contains('\n') && !reason.text.contains('\u{1b}'), "escaped: {}", reason.text);

    // No sign: another group; a customer subscription; nothing else pending; the MPE not pending.
    let cases: Vec<(&str, MpeView, Vec<Pec>)> = vec![
        ("another group", v.clone(), vec![pec(TARGET, 0, "renamed", PecStatus::Pending, &["file"], None)]),
        ("nothing pending", v.clone(), vec![pec(TARGET, 0, "renamed", PecStatus::Approved, &["blob"], None)]),
        ("provisioning", view(MpeStatus::Provisioning("Creating".into())), others.to_vec()),
        ("target decides", view(MpeStatus::ProvisionedCheckTarget), others.to_vec()),
    ];
    for (what, view, pecs) in cases {
        let mut s = seen(&view, Some(&pecs), early());
        s.unmatched = UNMATCHED_CHECKS;
        let a = answer(&s);
        assert!(
            matches!(&a, Action::Finish(Ending { verdict: Verdict::CheckAgain { .. }, about }) if !about.unmatched),
            "{what}: {a:?}"
        );
    }
    let mut customer = others[0].clone();
    customer.endpoint_id =
        Some("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/privateEndpoints/renamed".into());
    let a = with(UNMATCHED_CHECKS, &[customer], &none);
    assert!(matches!(&a, Action::Finish(Ending { about, .. }) if !about.unmatched), "a customer's PE: {a:?}");

    // The operator's rule: the PEC it names is approved; the provider's name is no longer matched.
    let names =
        EndpointNames::parse("Microsoft.Kusto/clusters/managedPrivateEndpoints=renamed-{parent}-{mpe}").unwrap();
    let theirs = [pec(TARGET, 0, "renamed-c-mpe1", PecStatus::Pending, &["blob"], Some(MSG))];
    assert!(
        matches!(with(0, &theirs, &names), Action::Approve(a) if a.pec_id.as_str() == theirs[0].id),
        "{:?}",
        with(0, &theirs, &names)
    );
    let ours = [mine(0, PecStatus::Pending)];
    assert!(
        matches!(with(0, &ours, &names), Action::Finish(Ending { verdict: Verdict::CheckAgain { .. }, .. })),
        "{:?}",
        with(0, &ours, &names)
    );
}

/// The MPEs of one parent are checked at the same instants whenever their checks ask within the same
/// half interval (one list of the parent's MPEs serves them all), different parents keep different
/// phases, and a service's ready window makes the checks dense inside it and sparse before it.
#[test]
fn one_parents_mpes_share_instants_and_ready_windows_set_the_density() {
    use mpe_approver::schedule::{phase_of, ReadyWindow, BEFORE_WINDOW};
    let s = Schedule::default();
    let adf = |parent: &str, n: u32| {
        rid(&format!(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataFactory/factories/{parent}/managedVirtualNetworks/default/managedPrivateEndpoints/pe{n}"
        ))
    };
    let g = Duration::from_secs(2);
    let t0 = now();
    let first = t0 + s.on_grid(g, t0, phase_of(&adf("f1", 0)), g / 2);
    for (n, ms) in [(1u32, 1000i64), (2, 1300), (3, 1600), (4, 1999)] {
        let asked = first - chrono::Duration::milliseconds(ms);
        let at = asked + s.on_grid(g, asked, phase_of(&adf("f1", n)), g / 2);
        assert_eq!(at, first, "sibling {n}, asking {ms} ms before the instant");
    }
    let phases: std::collections::BTreeSet<u64> = (0..50).map(|i| phase_of(&adf(&format!("f{i}"), 0)) % 2000).collect();
    assert!(phases.len() > 40, "parents spread over the interval: {}", phases.len());

    // The jitter moves each instant by less than its fraction of the interval, deterministically; none
    // keeps every instant on the phase's grid.
    let exact = Schedule { jitter: 0.0, ..Schedule::default() };
    for k in 0..200i64 {
        let asked = t0 + chrono::Duration::milliseconds(k * 137);
        let (phase, ms) = (phase_of(&adf("f9", 0)), |d: Duration| d.as_millis() as i64);
        let on = asked + exact.on_grid(g, asked, phase, g / 2);
        assert_eq!((on.timestamp_millis() - (phase % 2000) as i64).rem_euclid(2000), 0, "{on}");
        let jittered = s.on_grid(g, asked, phase, g / 2);
        assert_eq!(jittered, s.on_grid(g, asked, phase, g / 2));
        assert!(ms(jittered) >= 1000 && ms(jittered) <= 3000 + 2 * 200, "{jittered:?}");
    }
    let w = Some(ReadyWindow::seconds(75, 150));
    let secs = Duration::from_secs;
    assert_eq!(s.interval_for(0, secs(0), w), BEFORE_WINDOW, "sparse before the window");
    assert_eq!(s.interval_for(3, secs(70), w), secs(4), "never past the window's start, on the dense grid");
    assert_eq!(s.interval_for(40, secs(80), w), secs(2), "dense inside, whatever the attempt");
    assert_eq!(s.interval_for(40, secs(151), w), s.interval(40), "the schedule after it");
    assert_eq!(s.interval_for(40, secs(80), None), s.interval(40), "no window: the schedule");
}

/// What this process saw of a service's readiness (`MPE_LEARN_READINESS`) paces the checks of its MPEs
/// not ready yet: denser for a parent with many MPEs waiting, never sparser than twice the configured
/// interval; without it, or for an MPE awaiting approval, the configured schedule.
#[test]
fn what_this_process_saw_of_readiness_paces_an_mpe_not_ready_yet() {
    let secs = Duration::from_secs_f64;
    let provisioning = view(MpeStatus::Provisioning("Creating".into()));
    let key = readiness::key(&provisioning.id.resource_type());
    let mut learnt = Readiness::default();
    // A hundred of the service's MPEs seen ready, one a second from 55 s of age; the one here is 60 s old.
    for i in 0..100 {
        learnt.record(&key, secs(55.5 + i as f64));
    }
    let (schedule, names) = (Schedule::default(), EndpointNames::default());
    let after = |s: &Seen, learnt: Option<&Readiness>| match answer_learnt(s, &names, learnt) {
        Action::Finish(Ending { verdict: Verdict::CheckAgain { after, .. }, .. }) => after,
        other => panic!("expected a check again, got {other:?}"),
    };
    let p = Progress { attempt: 3, elapsed: Duration::from_secs(10), now: now() };
    let on_grid = |interval: Duration| {
        schedule.on_grid(interval, p.now, mpe_approver::schedule::phase_of(&provisioning.id), interval / 2)
    };
    let alone = seen(&provisioning, None, p);
    // One MPE: 95 still to come, one a second: g × g / 95 <= 0.25 up to 4.9 s; the configured 2 s at
    // this attempt bounds it to 4 s.
    assert_eq!(after(&alone, Some(&learnt)), on_grid(secs(4.0)));
    // Twenty waiting: g × 20 × g / 95 <= 0.25 up to 1.09 s.
    let mut twenty = alone.clone();
    twenty.members = 20;
    assert_eq!(after(&twenty, Some(&learnt)), on_grid(secs(1.0)));
    // Nothing learnt: the configured schedule.
    assert_eq!(after(&twenty, None), again_after(&provisioning, p));
    assert_eq!(after(&twenty, Some(&Readiness::default())), again_after(&provisioning, p));
    // Awaiting approval, no PEC yet: the configured schedule (readiness is behind it).
    let awaiting = view(MpeStatus::AwaitingApproval);
    let waiting_for_pec = seen(&awaiting, Some(&[]), p);
    assert_eq!(after(&waiting_for_pec, Some(&learnt)), again_after(&awaiting, p));

    // What a check tells of readiness: an MPE not ready yet at 60 s; one turned ready at 60 s, which an
    // earlier check of its chain saw not ready (not on the chain's first check, nor once an approval
    // was sent).
    assert_eq!(readiness_waiting(&alone), Some((key.clone(), Duration::from_secs(60))));
    assert_eq!(readiness_seen(&alone), None, "not ready: no approval");
    let ready = seen(&awaiting, Some(&[mine(0, PecStatus::Pending)]), p);
    assert_eq!(readiness_waiting(&ready), None);
    assert_eq!(readiness_seen(&ready), Some((key, Duration::from_secs(60))));
    let mut first = ready.clone();
    first.progress.attempt = 0;
    assert_eq!(readiness_seen(&first), None, "first check: when it turned ready is not known");
    let mut sent = seen(&awaiting, None, p);
    sent.approving = Some("x".into());
    assert_eq!(readiness_seen(&sent), None);
}
