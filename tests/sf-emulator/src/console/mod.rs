//! The web console: plain HTML/CSS/JS pages embedded in the binary (no build step, no CDN), served at
//! `/console` (`/` redirects there). The pages read the inspection API (`/__emulator/state`,
//! `/__emulator/requests`, `/__emulator/faults`, `/__emulator/records/{object}`,
//! `/__emulator/platform-events`) and follow `/__emulator/changes`, a server-sent event stream that
//! announces each change of the org, the request log or the pending faults. [`demo`] fills an emulator
//! with a demo call's data through the real HTTP API.

pub mod demo;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures_util::Stream;
use serde_json::{Value, json};

use crate::server::{Inner, Shared, lock};

const INDEX_HTML: &str = include_str!("../../console/index.html");
const CONSOLE_CSS: &str = include_str!("../../console/console.css");
const CONSOLE_JS: &str = include_str!("../../console/console.js");

/// How often a change stream looks at the state.
const CHANGE_POLL: Duration = Duration::from_millis(200);

/// The pages: `/` (redirect), `/console` and its assets.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .route("/console", get(|| async { asset("index.html") }))
        .route("/console/", get(|| async { asset("index.html") }))
        // Browsers ask for it on their own: answered here so it never lands in the request log.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/console/{name}", get(|Path(name): Path<String>| async move { asset(&name) }))
}

/// The console's additions to the control API (mounted under `/__emulator`).
pub fn control_router() -> Router<Shared> {
    Router::new().route("/changes", get(changes)).route("/platform-events", get(all_platform_events))
}

fn asset(name: &str) -> Response {
    let (content_type, body) = match name {
        "index.html" => ("text/html; charset=utf-8", INDEX_HTML),
        "console.css" => ("text/css; charset=utf-8", CONSOLE_CSS),
        "console.js" => ("text/javascript; charset=utf-8", CONSOLE_JS),
        _ => return (StatusCode::NOT_FOUND, "no such console file").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            // The pages load nothing from elsewhere; inline scripts and styles are refused too.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

/// What the console redraws on: changes whenever a request is recorded, a call, record, platform event
/// or upload appears, or a fault is queued or used up.
pub fn change_marker(inner: &Inner) -> Value {
    let rest = &inner.org.rest;
    json!({
        "requests": inner.next_seq,
        "voiceCalls": inner.org.voice_calls.len(),
        "records": rest.tables.values().map(|t| t.records.len()).sum::<usize>(),
        "platformEvents": rest.platform_events.len(),
        "conversationUploads": rest.conversations.uploads.len(),
        "faults": inner.faults.faults.iter().map(|f| u64::from(f.count)).sum::<u64>()
            + inner.faults.bulk_entry_faults.iter().map(|f| u64::from(f.count)).sum::<u64>(),
    })
}

/// `GET /__emulator/changes`: a `change` event now, then one each time [`change_marker`] moves. Ends when
/// the emulator stops.
async fn changes(State(shared): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((shared, None::<Value>), |(shared, last)| async move {
        loop {
            let (marker, closing) = {
                let inner = lock(&shared);
                (change_marker(&inner), inner.closing)
            };
            if closing {
                return None;
            }
            if last.as_ref() != Some(&marker) {
                let event = Event::default().event("change").data(marker.to_string());
                return Some((Ok(event), (shared, Some(marker))));
            }
            tokio::time::sleep(CHANGE_POLL).await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `GET /__emulator/platform-events`: every published platform event, oldest first.
async fn all_platform_events(State(shared): State<Shared>) -> Response {
    axum::Json(Value::Array(lock(&shared).org.rest.platform_events.clone())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_file_is_served_with_its_type_and_nothing_else_is() {
        for (name, kind) in
            [("index.html", "text/html"), ("console.css", "text/css"), ("console.js", "text/javascript")]
        {
            let response = asset(name);
            assert_eq!(response.status(), StatusCode::OK, "{name}");
            let served = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(served.starts_with(kind), "{name}: {served}");
        }
        assert_eq!(asset("../Cargo.toml").status(), StatusCode::NOT_FOUND);
        assert_eq!(asset("app.js").status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_pages_never_write_html_from_data() {
        // Caller-provided text (transcripts, numbers, attributes) reaches the DOM through textContent only.
        for forbidden in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("] {
            assert!(!CONSOLE_JS.contains(forbidden), "console.js uses {forbidden}");
        }
        assert!(!INDEX_HTML.contains("http://") && !INDEX_HTML.contains("https://"), "index.html loads nothing remote");
    }
}
