//! What one strategy did over one tenant, read from the simulator's report (what Azure saw) and the
//! process (real time, CPU): the figures the tables print and the plots draw.

use crate::tenant::Tenant;
use azure_sim::SimReport;
use std::time::Duration;

/// The value at fraction `p` of sorted `v` (nearest rank); NaN when empty.
pub fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Debug, Clone)]
pub struct Figures {
    pub strategy: String,
    /// The MPEs to approve (the tenant's MPEs but those deleted or rejected before they are ready).
    pub mpes: usize,
    pub subscriptions: usize,
    pub approved: usize,
    /// Ours: parked for a human or dead-lettered (nothing lost means approved + these = MPEs).
    pub parked: usize,
    pub dead_lettered: usize,
    /// Seconds from the MPE first reporting pending to its PEC approved, sorted.
    pub overshoot: Vec<f64>,
    pub arm_reads: u64,
    pub arm_writes: u64,
    /// Service Bus messages sent to the work queue (duplicates the queue dropped included) and
    /// deliveries (invocations of `MpeCheck`); 0 for the polls.
    pub sb_sent: u64,
    pub sb_deliveries: u64,
    /// 429s answered: ARM's, the providers', injected.
    pub throttled: u64,
    pub rp_throttled: u64,
    /// Calls made while ARM (or a provider) had asked their subscription to wait.
    pub inside_wait: u64,
    pub rp_inside_wait: u64,
    /// Wrong approvals: races (approved while Creating), strangers', twins'.
    pub wrong: usize,
    pub simulated: Duration,
    pub real: Duration,
    /// CPU seconds of the whole process (simulator, handler, host, pollers) during the run.
    pub cpu: f64,
    /// The most cores the process kept busy over one real second of the run.
    pub peak_cores: f64,
    pub time_scale: f64,
    /// What was not approved and why, wrong approvals, park reasons: for reading the run.
    pub notes: Vec<String>,
    /// Per approved MPE, where the overshoot went (`--parts`).
    pub parts: Vec<Parts>,
}

/// Where one approval's overshoot went, in seconds.
#[derive(Debug, Clone)]
pub struct Parts {
    pub service: String,
    /// From pending to the first read (of the MPE, or of its parent's list) showing it.
    pub to_read: f64,
    /// From that read to the approval.
    pub to_approval: f64,
    /// From the last read showing it pending before the approval (the approving check's) to the approval.
    pub approving: f64,
}

impl Figures {
    #[allow(clippy::too_many_arguments)]
    pub fn from_report(
        strategy: &str,
        tenant: &Tenant,
        r: &SimReport,
        parked: usize,
        dead_lettered: usize,
        work_queue: Option<&str>,
        simulated: Duration,
        real: Duration,
        cpu: CpuUse,
        time_scale: f64,
    ) -> Figures {
        // An approval of an MPE deleted or rejected before it was ready is a wrong one (the simulator refuses
        // the PUT of a rejected PEC, so this stays empty unless something else gave way).
        let not_to_approve: Vec<&azure_sim::MpeReport> =
            r.mpes.iter().filter(|m| m.pec_approved_at.is_some() && !tenant.approves(&m.id)).collect();
        let mut overshoot: Vec<f64> =
            r.mpes.iter().filter(|m| tenant.approves(&m.id)).filter_map(|m| m.approval_latency_secs).collect();
        overshoot.sort_by(f64::total_cmp);
        let q = work_queue.and_then(|w| r.queues.iter().find(|q| q.name.eq_ignore_ascii_case(w)));
        let t = r.throttle;
        let mut notes = Vec::new();
        let mut left: std::collections::BTreeMap<String, usize> = Default::default();
        for m in r.mpes.iter().filter(|m| m.pec_approved_at.is_none() && tenant.approves(&m.id)) {
            *left.entry(format!("{} ({})", m.service, m.phase)).or_default() += 1;
        }
        if !left.is_empty() {
            notes.push(format!(
                "not approved when the run stopped (the last readiness + its grace): {left:?}; the overshoot \
                 figures cover the approved ones only"
            ));
        }
        let mut slow: Vec<_> = r
            .mpes
            .iter()
            .filter(|m| tenant.approves(&m.id))
            .filter_map(|m| Some((m.approval_latency_secs?, m)))
            .collect();
        slow.sort_by(|a, b| b.0.total_cmp(&a.0));
        let slowest: Vec<String> = slow
            .iter()
            .take(3)
            .map(|(o, m)| {
                let ready = m.pending_at.map_or(0.0, |p| (p - m.created_at).num_milliseconds() as f64 / 1000.0);
                format!(
                    "{} ({}, ready after {ready:.0} s): {o:.1} s, {} ARM calls",
                    m.id.rsplit('/').next().unwrap_or(""),
                    m.service,
                    m.arm_calls
                )
            })
            .collect();
        notes.push(format!("slowest: {}", slowest.join("; ")));
        // The overshoot in two parts: from pending to the first read that showed it (the schedule, and
        // how late the host delivered), and from that read to the approval (the approving check's calls
        // and waits, or checks that read it and did not approve yet).
        let secs = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
            (b - a).num_milliseconds() as f64 / 1000.0
        };
        let parts: Vec<Parts> = r
            .mpes
            .iter()
            .filter(|m| tenant.approves(&m.id))
            .filter_map(|m| {
                let (p, seen, approved) = (m.pending_at?, m.read_pending_at?, m.pec_approved_at?);
                let last = m.last_read_pending_at.unwrap_or(seen);
                Some(Parts {
                    service: m.service.clone(),
                    to_read: secs(p, seen),
                    to_approval: secs(seen, approved),
                    approving: secs(last, approved),
                })
            })
            .collect();
        let (mut to_read, mut to_approval): (Vec<f64>, Vec<f64>) =
            parts.iter().map(|x| (x.to_read, x.to_approval)).unzip();
        let mut approving: Vec<f64> = parts.iter().map(|x| x.approving).collect();
        approving.sort_by(f64::total_cmp);
        if !to_read.is_empty() {
            to_read.sort_by(f64::total_cmp);
            to_approval.sort_by(f64::total_cmp);
            notes.push(format!(
                "overshoot in parts (median / p95): pending → first read showing it {:.1} / {:.1} s; that read → \
                 approved {:.1} / {:.1} s",
                pct(&to_read, 0.5),
                pct(&to_read, 0.95),
                pct(&to_approval, 0.5),
                pct(&to_approval, 0.95)
            ));
            let over = |s: f64| 100.0 * approving.iter().filter(|x| **x > s).count() as f64 / approving.len() as f64;
            notes.push(format!(
                "the approving check (the last read showing it pending → approved): median / p95 {:.1} / {:.1} s; \
                 over 1 s {:.1} %, over 2 s {:.1} %",
                pct(&approving, 0.5),
                pct(&approving, 0.95),
                over(1.0),
                over(2.0)
            ));
        }
        // The same two parts per service: which services wait on the schedule, which on the approving calls.
        {
            let mut by: std::collections::BTreeMap<&str, (Vec<f64>, Vec<f64>)> = Default::default();
            for x in &parts {
                let e = by.entry(x.service.as_str()).or_default();
                e.0.push(x.to_read);
                e.1.push(x.to_approval);
            }
            let txt: Vec<String> = by
                .iter_mut()
                .map(|(svc, (a, b))| {
                    a.sort_by(f64::total_cmp);
                    b.sort_by(f64::total_cmp);
                    format!("{svc} {:.1}/{:.1} + {:.1}/{:.1}", pct(a, 0.5), pct(a, 0.95), pct(b, 0.5), pct(b, 0.95))
                })
                .collect();
            notes.push(format!(
                "overshoot in parts per service (pending → first read median / p95 + that read → approved median / p95): {}",
                txt.join("; ")
            ));
        }
        // Per service: approvals, overshoot median / p95, and ARM calls per MPE (as the simulator
        // attributes them: a parent's list counts for each of its MPEs).
        let mut by_service: std::collections::BTreeMap<&str, (Vec<f64>, u64, usize)> = Default::default();
        for m in r.mpes.iter().filter(|m| tenant.approves(&m.id)) {
            let e = by_service.entry(m.service.as_str()).or_default();
            e.1 += m.arm_calls;
            e.2 += 1;
            if let Some(o) = m.approval_latency_secs {
                e.0.push(o);
            }
        }
        let per_service: Vec<String> = by_service
            .iter_mut()
            .map(|(service, (o, calls, n))| {
                o.sort_by(f64::total_cmp);
                format!(
                    "{service} {}/{n}: {:.1} / {:.1} s, {:.0} calls",
                    o.len(),
                    pct(o, 0.5),
                    pct(o, 0.95),
                    *calls as f64 / (*n).max(1) as f64
                )
            })
            .collect();
        notes.push(format!(
            "per service (approved, overshoot median / p95, ARM calls per MPE): {}",
            per_service.join("; ")
        ));
        // ARM calls by what they read or wrote, per approval: where a strategy spends its calls.
        let approvals = r.mpes.iter().filter(|m| m.pec_approved_at.is_some()).count().max(1) as f64;
        let mut kinds: std::collections::BTreeMap<&str, u64> = Default::default();
        for (path, n) in &r.arm_calls_by_resource {
            *kinds.entry(call_kind(path)).or_default() += n;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {:.1}", *n as f64 / approvals)).collect();
        notes.push(format!("ARM calls per approval by kind: {}", kinds.join(", ")));
        for v in r.violations.iter().take(3) {
            notes.push(format!("wrong: {:?} {}", v.kind, v.detail));
        }
        for m in not_to_approve.iter().take(3) {
            notes.push(format!("wrong: approved {} ({}), which was not to be approved", m.id, m.phase));
        }
        Figures {
            strategy: strategy.into(),
            mpes: tenant.to_approve(),
            subscriptions: tenant.subscriptions.len(),
            approved: r.mpes.iter().filter(|m| m.pec_approved_at.is_some() && tenant.approves(&m.id)).count(),
            parked,
            dead_lettered,
            overshoot,
            arm_reads: r.arm_reads,
            arm_writes: r.arm_writes,
            sb_sent: q.map_or(0, |q| q.sent),
            sb_deliveries: q.map_or(0, |q| q.deliveries),
            throttled: t.waits_started + t.inside_wait + r.faults_injected,
            rp_throttled: t.rp_waits_started + t.rp_inside_wait,
            inside_wait: t.inside_wait,
            rp_inside_wait: t.rp_inside_wait,
            wrong: r.violations.len() + not_to_approve.len(),
            simulated,
            real,
            cpu: cpu.seconds,
            peak_cores: cpu.peak_cores,
            time_scale,
            notes,
            parts,
        }
    }

    fn per(&self, x: u64) -> f64 {
        if self.approved == 0 {
            f64::NAN
        } else {
            x as f64 / self.approved as f64
        }
    }
    pub fn median(&self) -> f64 {
        pct(&self.overshoot, 0.5)
    }
    pub fn p95(&self) -> f64 {
        pct(&self.overshoot, 0.95)
    }
    pub fn max(&self) -> f64 {
        self.overshoot.last().copied().unwrap_or(f64::NAN)
    }
    pub fn reads_per(&self) -> f64 {
        self.per(self.arm_reads)
    }
    pub fn writes_per(&self) -> f64 {
        self.per(self.arm_writes)
    }
    pub fn calls_per(&self) -> f64 {
        self.per(self.arm_reads + self.arm_writes)
    }
    pub fn sb_per(&self) -> f64 {
        self.per(self.sb_sent)
    }
    pub fn all_429(&self) -> u64 {
        self.throttled + self.rp_throttled
    }
    pub fn all_inside_wait(&self) -> u64 {
        self.inside_wait + self.rp_inside_wait
    }
    /// Calls inside a wait, as a share of all ARM calls.
    pub fn inside_wait_pct(&self) -> f64 {
        let calls = self.arm_reads + self.arm_writes;
        if calls == 0 {
            0.0
        } else {
            100.0 * self.all_inside_wait() as f64 / calls as f64
        }
    }
    /// Average cores busy during the run.
    pub fn cores(&self) -> f64 {
        self.cpu / self.real.as_secs_f64().max(1e-9)
    }
}

/// What a run took of the machine's cores.
#[derive(Debug, Clone, Copy)]
pub struct CpuUse {
    /// CPU seconds, user and system, of the whole process.
    pub seconds: f64,
    /// The most cores busy over one real second.
    pub peak_cores: f64,
}

/// Samples the process's CPU every real second while a run lasts: an average hides the peak where a
/// compressed run measures the machine rather than the strategy.
pub struct CpuWatch {
    start: f64,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: std::thread::JoinHandle<f64>,
}

impl CpuWatch {
    pub fn start() -> CpuWatch {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::spawn(move || {
            let (mut last, mut at, mut peak) = (cpu_seconds(), std::time::Instant::now(), 0.0f64);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                if at.elapsed() >= std::time::Duration::from_secs(1) {
                    let now = cpu_seconds();
                    peak = peak.max((now - last) / at.elapsed().as_secs_f64());
                    (last, at) = (now, std::time::Instant::now());
                }
            }
            peak
        });
        CpuWatch { start: cpu_seconds(), stop, sampler }
    }

    pub fn stop(self) -> CpuUse {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak_cores = self.sampler.join().unwrap_or(0.0);
        CpuUse { seconds: cpu_seconds() - self.start, peak_cores }
    }
}

/// CPU seconds this process has used so far (user + system), from `/proc/self/stat`.
pub fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else { return 0.0 };
    // Fields after the command name (which is in parentheses and may hold spaces).
    let Some(rest) = s.rsplit_once(')').map(|(_, r)| r) else { return 0.0 };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// What an ARM path (lower-cased, as the simulator counts it) reads or writes.
fn call_kind(path: &str) -> &'static str {
    let last = path.rsplit('/').next().unwrap_or("");
    let parent = path.rsplit('/').nth(1).unwrap_or("");
    if path.ends_with("/providers/microsoft.resources/tags/default") {
        "tags"
    } else if last == "privateendpointconnections" {
        "PEC lists"
    } else if parent == "privateendpointconnections" {
        "PEC reads and writes"
    } else if matches!(last, "managedprivateendpoints" | "privateendpoints" | "sharedprivatelinkresources") {
        "MPE lists"
    } else if matches!(parent, "managedprivateendpoints" | "privateendpoints" | "sharedprivatelinkresources") {
        "MPE reads"
    } else {
        "other"
    }
}
