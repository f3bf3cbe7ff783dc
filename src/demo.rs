//! `hookrelay demo`: a sample dev server and signed sample Port events, so a newcomer sees real
//! deliveries flow with no setup and no internet. The payloads are Port's documented examples,
//! built into the binary (assets/demo/).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

use crate::delivery::now_ms;

/// The secret the demo signs with (a demo value, not a real credential).
pub const DEMO_SECRET: &str = "demo-port-client-secret";

/// One sample event: a name, the compact body, and how to sign it.
pub struct SampleEvent {
    pub name: &'static str,
    pub body: Vec<u8>,
    pub signing: Signing,
}

/// How a sample is signed, to show each verification outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signing {
    /// Signed now with the demo secret.
    Valid,
    /// Signed an hour ago: outside the 300 s tolerance.
    Stale,
    /// Signed, then one byte of the body changed.
    Tampered,
}

const ASSETS: [(&str, &[u8], Signing); 6] = [
    (
        "entity update",
        include_bytes!("../assets/demo/01-changelog-entity-update.json"),
        Signing::Valid,
    ),
    (
        "entity create",
        include_bytes!("../assets/demo/02-changelog-entity-create.json"),
        Signing::Valid,
    ),
    (
        "health status change",
        include_bytes!("../assets/demo/03-changelog-entity-update-healthstatus.json"),
        Signing::Valid,
    ),
    (
        "automation trigger",
        include_bytes!("../assets/demo/07-automation-entity-updated-trigger-data.json"),
        Signing::Valid,
    ),
    (
        "entity delete, signed an hour ago",
        include_bytes!("../assets/demo/04-changelog-entity-delete.json"),
        Signing::Stale,
    ),
    (
        "entity update, body changed after signing",
        include_bytes!("../assets/demo/01-changelog-entity-update.json"),
        Signing::Tampered,
    ),
];

/// A self-service action run Port invokes **synchronously** (the action's "Request type: sync"):
/// Port sets the run's result from the status and body the endpoint answers. The demo sends it
/// last, through `--reply`, and the sample dev server answers `201` with a JSON result.
pub fn action_run_event() -> SampleEvent {
    let raw: &[u8] = include_bytes!("../assets/demo/11-action-run-trigger-data.json");
    let v: serde_json::Value = serde_json::from_slice(raw).expect("demo asset is JSON");
    SampleEvent {
        name: "synchronized action run",
        body: serde_json::to_vec(&v).expect("serializable"),
        signing: Signing::Valid,
    }
}

/// The sample events, serialized compactly as Port sends them.
pub fn sample_events() -> Vec<SampleEvent> {
    ASSETS
        .iter()
        .map(|(name, raw, signing)| {
            let v: serde_json::Value = serde_json::from_slice(raw).expect("demo asset is JSON");
            SampleEvent {
                name,
                body: serde_json::to_vec(&v).expect("serializable"),
                signing: *signing,
            }
        })
        .collect()
}

impl SampleEvent {
    /// The headers a Port webhook would carry for this body, signed as the sample says.
    /// Returns the headers and the body to send (changed after signing when tampered).
    pub fn signed(&self, secret: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let now_s = now_ms() / 1000;
        let ts = match self.signing {
            Signing::Stale => now_s - 3600,
            _ => now_s,
        }
        .to_string();
        let sig = crate::verify::sign_port(secret, &ts, &self.body);
        let mut body = self.body.clone();
        if self.signing == Signing::Tampered
            && let Some(pos) = body.windows(3).position(|w| w == b"0.5")
        {
            body[pos + 2] = b'9'; // free_storage 0.5 -> 0.9
        }
        let headers = vec![
            ("content-type".into(), "application/json".into()),
            ("user-agent".into(), "Port-Webhook/hookrelay-demo".into()),
            ("x-port-timestamp".into(), ts),
            ("x-port-signature".into(), sig),
        ];
        (headers, body)
    }
}

/// What the sample dev server saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// A small dev server: checks the Port signature like a real handler would and answers JSON.
pub struct SampleTarget {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl SampleTarget {
    pub async fn start(secret: &str) -> std::io::Result<SampleTarget> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = (secret.to_string(), seen.clone());
        let app = Router::new()
            .fallback(handle)
            .with_state(state)
            .layer(axum::extract::DefaultBodyLimit::max(32 << 20));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(SampleTarget { addr, seen, task })
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for SampleTarget {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type TargetState = (String, Arc<Mutex<Vec<Seen>>>);

async fn handle(
    State((secret, seen)): State<TargetState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let ts = h("x-port-timestamp");
    let fresh = ts
        .parse::<i64>()
        .map(|t| (now_ms() / 1000 - t).abs() < 300)
        .unwrap_or(false);
    let valid = crate::verify::sign_port(&secret, ts, &body) == h("x-port-signature");
    let run = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            Some((
                v.get("action")?.get("identifier")?.as_str()?.to_string(),
                v.get("run")?.get("id")?.as_str()?.to_string(),
            ))
        });
    let action_result;
    let (status, answer) = if !valid {
        (StatusCode::UNAUTHORIZED, r#"{"error":"invalid signature"}"#)
    } else if !fresh {
        (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"timestamp outside tolerance"}"#,
        )
    } else if let Some((action, run)) = run {
        // a synchronized action run: Port sets the run's result from this answer
        action_result = serde_json::json!({
            "status": "SUCCESS",
            "message": format!("{action} done by the sample dev server"),
            "run": run,
        })
        .to_string();
        (StatusCode::CREATED, action_result.as_str())
    } else {
        (StatusCode::OK, r#"{"ok":true}"#)
    };
    seen.lock().expect("seen lock").push(Seen {
        method: method.to_string(),
        uri: uri.to_string(),
        status: status.as_u16(),
    });
    (
        status,
        [("content-type", "application/json")],
        answer.to_string(),
    )
}
