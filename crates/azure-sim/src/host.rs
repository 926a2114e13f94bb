//! A Functions-host emulator: invokes a custom handler exactly as the Azure Functions host does
//! (`shared/functions/PROTOCOL.md`): `POST {handler}/{FunctionName}` with `{"Data", "Metadata"}`, the
//! Service Bus body double-encoded, Service Bus redelivery and dead-lettering, Event Grid retries, and
//! the HTTP trigger's `{Url, Method, Query, Headers, Params, Identities, Body}` request shape.
//!
//! It records every invocation. It must never retry faster or slower than the real host's rules (in the
//! injected clock's time), nor treat a non-2xx or non-JSON reply as success.

use crate::clock::SharedClock;
use crate::invocations::{InvocationLog, InvocationRecord};
use crate::servicebus::{SbMessage, ServiceBus};
use crate::sync::lock;
use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

pub const EVENT_FUNCTION: &str = "MpeEvent";
pub const CHECK_FUNCTION: &str = "MpeCheck";
pub const REPLAY_FUNCTION: &str = "MpeReplay";
pub const HOST_VERSION: &str = "4.1037.1.1";
/// Event Grid's retry delays after a failed delivery, before dead-lettering (simulated time).
pub const EVENT_RETRIES: [Duration; 3] = [Duration::from_secs(10), Duration::from_secs(30), Duration::from_secs(60)];

/// The `http` output binding of an HTTP-triggered invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpOutput {
    pub status_code: u16,
    pub body: String,
    pub headers: BTreeMap<String, String>,
}

/// The outcome of one invocation.
#[derive(Debug, Clone)]
pub struct InvocationResult {
    pub function: String,
    pub invocation_id: String,
    /// HTTP status the handler answered, `None` when it could not be reached.
    pub status: Option<u16>,
    /// 2xx and a JSON body.
    pub success: bool,
    pub duration: Duration,
    /// The handler's JSON reply (`{Outputs, Logs, ReturnValue}`).
    pub reply: Option<Value>,
    pub logs: Vec<String>,
    pub error: Option<String>,
    /// HTTP trigger only: the `res` output, or the host's 500 when the invocation failed.
    pub http: Option<HttpOutput>,
    /// Delivery attempt (Service Bus DeliveryCount, Event Grid attempt), from 1.
    pub attempt: u32,
}

/// The emulator. Clones share the invocation log.
#[derive(Clone)]
pub struct FunctionsHost {
    handler: String,
    http: reqwest::Client,
    clock: SharedClock,
    bus: Option<ServiceBus>,
    log: InvocationLog,
    dead_events: Arc<Mutex<Vec<Value>>>,
}

/// Poll `GET {handler_url}/` until the handler answers anything (as the host does at start-up).
pub async fn wait_ready(handler_url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
    let url = format!("{}/", handler_url.trim_end_matches('/'));
    let start = Instant::now();
    loop {
        if client.get(&url).send().await.is_ok() {
            return Ok(());
        }
        if start.elapsed() > timeout {
            bail!("handler at {handler_url} did not answer GET / within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A string binding value as the host encodes it: its JSON serialisation, as a string.
fn encoded(s: &str) -> Value {
    Value::String(Value::String(s.to_string()).to_string())
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Read an `http` output binding value.
fn http_output(v: &Value) -> Option<HttpOutput> {
    let obj = v.as_object()?;
    let get = |k: &str| obj.iter().find(|(n, _)| n.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let status_code = match get("statusCode") {
        None | Some(Value::Null) => 200,
        Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok())?,
        Some(Value::String(s)) => s.trim().parse().ok()?,
        Some(_) => return None,
    };
    let body = match get("body") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let headers = get("headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    Some(HttpOutput { status_code, body, headers })
}

/// A running Service Bus pump; stop it with [`QueuePump::stop`].
pub struct QueuePump {
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
}

impl QueuePump {
    /// Stop taking messages and wait for in-flight invocations to finish.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.handle.await {
            tracing::warn!(target: "simulator", error = %e, "queue pump ended abnormally");
        }
    }
}

impl FunctionsHost {
    pub fn new(handler_url: &str, clock: SharedClock) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        FunctionsHost {
            handler: handler_url.trim_end_matches('/').to_string(),
            http,
            clock,
            bus: None,
            log: Arc::new(Mutex::new(Vec::new())),
            dead_events: Arc::new(Mutex::new(Vec::new())),
        }
    }
    /// Take Service Bus messages from this namespace.
    pub fn with_service_bus(mut self, bus: ServiceBus) -> Self {
        self.bus = Some(bus);
        self
    }
    /// Record invocations into this log (shared with a simulator's report).
    pub fn with_log(mut self, log: InvocationLog) -> Self {
        self.log = log;
        self
    }
    pub fn handler_url(&self) -> &str {
        &self.handler
    }
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        wait_ready(&self.handler, timeout).await
    }
    pub fn invocations(&self) -> Vec<InvocationRecord> {
        lock(&self.log).clone()
    }
    /// Events Event Grid gave up on.
    pub fn dead_lettered_events(&self) -> Vec<Value> {
        lock(&self.dead_events).clone()
    }

    /// One raw invocation: `POST {handler}/{function}` with `{"Data": data, "Metadata": metadata + sys}`.
    pub async fn invoke(
        &self,
        function: &str,
        data: Map<String, Value>,
        mut metadata: Map<String, Value>,
        attempt: u32,
    ) -> InvocationResult {
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let at = self.clock.now();
        metadata.insert(
            "sys".into(),
            json!({"MethodName": function, "UtcNow": time(at), "RandGuid": uuid::Uuid::new_v4().to_string()}),
        );
        let payload = json!({"Data": data, "Metadata": metadata});
        let start = Instant::now();
        let sent = self
            .http
            .post(format!("{}/{function}", self.handler))
            .header("content-type", "application/json; charset=utf-8")
            .header("x-azure-functions-invocationid", &invocation_id)
            .header("x-azure-functions-hostversion", HOST_VERSION)
            .header("user-agent", format!("Azure-Functions-Host/{HOST_VERSION}"))
            .body(payload.to_string())
            .send()
            .await;
        let (status, reply, error) = match sent {
            Err(e) => (None, None, Some(format!("handler unreachable: {e}"))),
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Err(e) => (Some(status.as_u16()), None, Some(format!("reading reply: {e}"))),
                    Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
                        Ok(v) if status.is_success() => (Some(status.as_u16()), Some(v), None),
                        Ok(v) => (Some(status.as_u16()), Some(v), Some(format!("handler answered {status}"))),
                        Err(e) => (
                            Some(status.as_u16()),
                            None,
                            Some(format!("handler answered {status} with a non-JSON body: {e}")),
                        ),
                    },
                }
            }
        };
        let duration = start.elapsed();
        let success = error.is_none();
        let logs = reply
            .as_ref()
            .and_then(|r| r.get("Logs"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(|l| l.as_str().map(str::to_string).unwrap_or_else(|| l.to_string())).collect())
            .unwrap_or_default();
        if let Some(e) = &error {
            tracing::info!(target: "simulator", function, %invocation_id, attempt, error = %e, "invocation failed");
        }
        // The handler's log lines, at the simulated time the invocation started (`RUST_LOG=simulator::host=debug`).
        for line in &logs {
            tracing::debug!(target: "simulator::host", %at, function, "{line}");
        }
        lock(&self.log).push(InvocationRecord {
            function: function.to_string(),
            invocation_id: invocation_id.clone(),
            at,
            status,
            success,
            duration_ms: duration.as_secs_f64() * 1000.0,
            attempt,
            error: error.clone(),
        });
        InvocationResult {
            function: function.to_string(),
            invocation_id,
            status,
            success,
            duration,
            reply,
            logs,
            error,
            http: None,
            attempt,
        }
    }

    /// Deliver one Event Grid event to `MpeEvent`, retrying a failure after 10 s, 30 s and 60 s of
    /// simulated time (this call waits), then dead-lettering it. Returns the last attempt.
    pub async fn deliver_event(&self, event: &Value) -> anyhow::Result<InvocationResult> {
        if !event.is_object() {
            bail!("an Event Grid event must be a JSON object (one event per invocation)");
        }
        let mut attempt = 1;
        let mut result = self.invoke_event(event, attempt).await;
        for delay in EVENT_RETRIES {
            if result.success {
                return Ok(result);
            }
            crate::clock::sleep(self.clock.as_ref(), delay).await;
            attempt += 1;
            result = self.invoke_event(event, attempt).await;
        }
        if !result.success {
            tracing::info!(target: "simulator", id = ?event.get("id"), "Event Grid event dead-lettered");
            lock(&self.dead_events).push(event.clone());
        }
        Ok(result)
    }

    async fn invoke_event(&self, event: &Value, attempt: u32) -> InvocationResult {
        let mut data = Map::new();
        data.insert("event".into(), event.clone());
        let mut metadata = Map::new();
        metadata.insert("data".into(), event.get("data").cloned().unwrap_or(Value::Null));
        self.invoke(EVENT_FUNCTION, data, metadata, attempt).await
    }

    /// Invoke `MpeCheck` with one taken message (its `delivery_count` already counts this delivery).
    pub async fn invoke_check(&self, m: &SbMessage) -> InvocationResult {
        let mut data = Map::new();
        data.insert("message".into(), encoded(&m.body));
        let props: Map<String, Value> =
            m.properties.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let mut md = Map::new();
        md.insert("DeliveryCount".into(), Value::String(m.delivery_count.to_string()));
        md.insert("MessageId".into(), encoded(&m.message_id));
        md.insert("LockToken".into(), encoded(&m.lock_token));
        md.insert("SequenceNumber".into(), Value::String(m.sequence_number.to_string()));
        md.insert("EnqueuedTimeUtc".into(), Value::String(time(m.enqueued_at)));
        if let Some(e) = m.expires_at {
            md.insert("ExpiresAtUtc".into(), Value::String(time(e)));
        }
        if let Some(c) = &m.content_type {
            md.insert("ContentType".into(), encoded(c));
        }
        if let Some(c) = &m.correlation_id {
            md.insert("CorrelationId".into(), encoded(c));
        }
        md.insert("ApplicationProperties".into(), Value::Object(props.clone()));
        md.insert("UserProperties".into(), Value::Object(props));
        md.insert("MessageActions".into(), json!({}));
        md.insert("Client".into(), json!({"FullyQualifiedNamespace": "localhost", "IsClosed": false}));
        self.invoke(CHECK_FUNCTION, data, md, m.delivery_count).await
    }

    /// Deliver a taken message and settle it like the Service Bus extension: complete on success,
    /// otherwise abandon (redelivered at once) or, after the queue's maxDeliveryCount deliveries (10 by
    /// default), dead-letter it.
    pub async fn deliver_message(&self, queue: &str, m: SbMessage) -> anyhow::Result<InvocationResult> {
        let bus = self.bus.clone().context("this host has no Service Bus (use with_service_bus)")?;
        // How long after it was due the message reached the handler (`RUST_LOG=simulator::host=debug`):
        // the instance's slots all busy, or the pump between polls.
        let late = (self.clock.now() - m.visible_at).num_milliseconds();
        tracing::debug!(target: "simulator::host", late_ms = late, "a message delivered");
        let result = self.invoke_check(&m).await;
        if !result.success {
            if m.delivery_count >= bus.max_delivery_count(queue) {
                let why = result.error.clone().unwrap_or_default();
                bus.dead_letter(queue, m, "MaxDeliveryCountExceeded", &why);
            } else {
                bus.redeliver(queue, m);
            }
        }
        Ok(result)
    }

    /// Take the messages due now from `queue` and deliver them one by one. Deterministic stepping for tests.
    pub async fn drain_once(&self, queue: &str) -> anyhow::Result<Vec<InvocationResult>> {
        let bus = self.bus.clone().context("this host has no Service Bus (use with_service_bus)")?;
        let mut out = Vec::new();
        for m in bus.take_due(queue) {
            out.push(self.deliver_message(queue, m).await?);
        }
        Ok(out)
    }

    /// Start a background pump: every `poll` (real time, ~5–20 ms) take the due messages from `queue`
    /// and invoke `MpeCheck` for each, concurrently.
    pub fn run_queue_pump(&self, queue: &str, poll: Duration) -> anyhow::Result<QueuePump> {
        self.run_queue_pump_limited(queue, poll, usize::MAX)
    }

    /// [`FunctionsHost::run_queue_pump`] with at most `max_concurrent_calls` invocations in flight, as
    /// one instance of the host runs a Service Bus trigger (host.json's
    /// `extensions.serviceBus.maxConcurrentCalls`, 16 by default): the other due messages wait in the
    /// queue, unlocked, until a call ends.
    pub fn run_queue_pump_limited(
        &self,
        queue: &str,
        poll: Duration,
        max_concurrent_calls: usize,
    ) -> anyhow::Result<QueuePump> {
        let bus = self.bus.clone().context("this host has no Service Bus (use with_service_bus)")?;
        if !bus.has_queue(queue) {
            bail!("no queue named {queue}");
        }
        let (stop, mut rx) = watch::channel(false);
        let host = self.clone();
        let queue = queue.to_string();
        let handle = tokio::spawn(async move {
            let mut inflight = JoinSet::new();
            loop {
                if *rx.borrow() {
                    break;
                }
                while inflight.try_join_next().is_some() {}
                for m in bus.take_due_at_most(&queue, max_concurrent_calls.saturating_sub(inflight.len())) {
                    let host = host.clone();
                    let queue = queue.clone();
                    inflight.spawn(async move {
                        if let Err(e) = host.deliver_message(&queue, m).await {
                            tracing::warn!(target: "simulator", error = %e, "delivery failed");
                        }
                    });
                }
                tokio::select! {
                    r = rx.changed() => if r.is_err() { break },
                    _ = tokio::time::sleep(poll) => {}
                    // A call ended: its slot takes the next due message at once.
                    Some(_) = inflight.join_next(), if inflight.len() >= max_concurrent_calls => {}
                }
            }
            while inflight.join_next().await.is_some() {}
        });
        Ok(QueuePump { stop, handle })
    }

    /// Invoke `MpeReplay` as an HTTP POST with `body` and `query`; returns the invocation with its
    /// `http` output (the host's 500 if the invocation failed).
    pub async fn invoke_replay(&self, body: &str, query: &[(&str, &str)]) -> InvocationResult {
        let qs: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
        let host = "sim-approver.azurewebsites.net";
        let path = if qs.is_empty() { "/api/replay".to_string() } else { format!("/api/replay?{qs}") };
        let q: Map<String, Value> = query.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
        let headers: Vec<(&str, String)> = vec![
            ("Accept", "*/*".into()),
            ("Content-Length", body.len().to_string()),
            ("Content-Type", "application/json".into()),
            ("Host", host.into()),
            ("User-Agent", "curl/8.5.0".into()),
            ("X-Original-URL", path.clone()),
            ("X-Forwarded-Proto", "https".into()),
        ];
        let req = json!({
            "Url": format!("https://{host}{path}"),
            "Method": "POST",
            "Query": q,
            "Headers": headers.iter().map(|(k, v)| (k.to_string(), json!([v]))).collect::<Map<_, _>>(),
            "Params": {},
            "Identities": [{
                "AuthenticationType": "WebJobsAuthLevel",
                "IsAuthenticated": true,
                "Actor": null,
                "BootstrapContext": null,
                "Claims": [],
                "Label": null,
                "Name": null,
                "NameClaimType": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
                "RoleClaimType": "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
            }],
            "Body": body,
        });
        let mut data = Map::new();
        data.insert("req".into(), req);
        let mut md = Map::new();
        for (k, v) in query {
            md.insert(k.to_string(), encoded(v));
        }
        md.insert("Query".into(), Value::Object(q));
        md.insert("Headers".into(), Value::Object(headers.iter().map(|(k, v)| (k.to_string(), json!(v))).collect()));
        let mut result = self.invoke(REPLAY_FUNCTION, data, md, 1).await;
        result.http = if result.success {
            result.reply.as_ref().and_then(|r| r.pointer("/Outputs/res")).and_then(http_output)
        } else {
            Some(HttpOutput { status_code: 500, body: String::new(), headers: BTreeMap::new() })
        };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ScaledClock;
    use axum::routing::{get, post};
    use axum::{Json, Router};

    /// A fake handler that echoes each invocation and fails `MpeCheck` when the body says "fail".
    async fn fake_handler() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::new(Mutex::new(Vec::new()));
        let s1 = seen.clone();
        let s2 = seen.clone();
        let s3 = seen.clone();
        let app = Router::new()
            .route("/", get(|| async { "ok" }))
            .route(
                "/MpeCheck",
                post(move |Json(v): Json<Value>| async move {
                    lock(&s1).push(("MpeCheck".into(), v.clone()));
                    let msg = v["Data"]["message"].as_str().unwrap_or("").to_string();
                    if msg.contains("fail") {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})))
                    } else {
                        (axum::http::StatusCode::OK, Json(json!({"Logs": ["checked"]})))
                    }
                }),
            )
            .route(
                "/MpeEvent",
                post(move |Json(v): Json<Value>| async move {
                    lock(&s2).push(("MpeEvent".into(), v.clone()));
                    (axum::http::StatusCode::BAD_GATEWAY, "not json")
                }),
            )
            .route(
                "/MpeReplay",
                post(move |Json(v): Json<Value>| async move {
                    lock(&s3).push(("MpeReplay".into(), v.clone()));
                    Json(json!({"Outputs": {"res": {"statusCode": "202", "body": "queued", "headers": {"x-a": "b"}}}}))
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn clock() -> SharedClock {
        Arc::new(ScaledClock::new(Utc::now(), 10_000.0))
    }

    #[tokio::test]
    async fn service_bus_bodies_are_double_encoded_and_redelivered() {
        let (url, seen) = fake_handler().await;
        let clock = clock();
        let bus = ServiceBus::new(clock.clone(), &["work"]);
        let host = FunctionsHost::new(&url, clock).with_service_bus(bus.clone());
        host.wait_ready(Duration::from_secs(5)).await.unwrap();
        let body = r#"{"v":1,"mpeId":"x"}"#;
        let mut props = BTreeMap::new();
        props.insert("origin".to_string(), "eventGrid".to_string());
        bus.send(
            "work",
            crate::servicebus::OutgoingMessage {
                message_id: Some("id-1".into()),
                correlation_id: Some("corr".into()),
                body: body.into(),
                properties: props,
                ..Default::default()
            },
        )
        .unwrap();
        let r = host.drain_once("work").await.unwrap();
        assert!(r[0].success);
        assert_eq!(r[0].logs, vec!["checked".to_string()]);
        let (_, v) = lock(&seen)[0].clone();
        let msg = v["Data"]["message"].as_str().unwrap();
        let once: String = serde_json::from_str(msg).unwrap();
        assert_eq!(once, body);
        assert_eq!(v["Metadata"]["DeliveryCount"], "1");
        assert_eq!(v["Metadata"]["MessageId"], "\"id-1\"");
        assert_eq!(v["Metadata"]["CorrelationId"], "\"corr\"");
        assert_eq!(v["Metadata"]["ApplicationProperties"]["origin"], "eventGrid");
        assert_eq!(v["Metadata"]["sys"]["MethodName"], "MpeCheck");

        // A failing message is redelivered at once and dead-lettered after 10 deliveries.
        bus.send("work", crate::servicebus::OutgoingMessage { body: "fail".into(), ..Default::default() }).unwrap();
        let pump = host.run_queue_pump("work", Duration::from_millis(5)).unwrap();
        let start = Instant::now();
        while bus.dead_letters("work").is_empty() && start.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        pump.stop().await;
        let dl = bus.dead_letters("work");
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].reason, "MaxDeliveryCountExceeded");
        assert_eq!(dl[0].message.delivery_count, 10);
        let failed = host.invocations().iter().filter(|i| !i.success).count();
        assert_eq!(failed, 10);
    }

    #[tokio::test]
    async fn event_grid_retries_then_dead_letters() {
        let (url, seen) = fake_handler().await;
        let host = FunctionsHost::new(&url, clock());
        let ev = json!({"id": "e1", "data": {"resourceUri": "/x"}});
        let r = host.deliver_event(&ev).await.unwrap();
        assert!(!r.success);
        assert_eq!(r.attempt, 4);
        assert_eq!(host.dead_lettered_events().len(), 1);
        let (_, v) = lock(&seen)[0].clone();
        assert_eq!(v["Data"]["event"]["id"], "e1");
        assert_eq!(v["Metadata"]["data"]["resourceUri"], "/x");
        assert!(host.deliver_event(&json!([ev])).await.is_err());
    }

    #[tokio::test]
    async fn replay_uses_the_http_shape() {
        let (url, seen) = fake_handler().await;
        let host = FunctionsHost::new(&url, clock());
        let r = host.invoke_replay(r#"{"mpeId":"/x"}"#, &[("dryRun", "true")]).await;
        assert!(r.success);
        let http = r.http.unwrap();
        assert_eq!(http.status_code, 202);
        assert_eq!(http.body, "queued");
        let (_, v) = lock(&seen)[0].clone();
        let req = &v["Data"]["req"];
        assert_eq!(req["Method"], "POST");
        assert_eq!(req["Query"]["dryRun"], "true");
        assert_eq!(req["Headers"]["Content-Type"][0], "application/json");
        assert_eq!(req["Body"], r#"{"mpeId":"/x"}"#);
        assert_eq!(v["Metadata"]["dryRun"], "\"true\"");
        // An unreachable handler fails the invocation with the host's 500.
        let dead = FunctionsHost::new("http://127.0.0.1:9", clock());
        let r = dead.invoke_replay("{}", &[]).await;
        assert!(!r.success);
        assert_eq!(r.http.unwrap().status_code, 500);
    }

    #[test]
    fn http_output_is_liberal() {
        assert_eq!(http_output(&json!({"statusCode": 201})).unwrap().status_code, 201);
        assert_eq!(http_output(&json!({"body": {"a": 1}})).unwrap().body, r#"{"a":1}"#);
        assert!(http_output(&json!({"statusCode": "abc"})).is_none());
        assert!(http_output(&json!(3)).is_none());
    }
}
