//! A Salesforce emulator built from the Service Cloud Voice documentation: the Telephony Integration REST
//! API (`/telephony/v1`, chapter 3 of the SCV Implementation Guide) with its JWT authorization, strict
//! request validation, fault injection and inspection. Tests start one per test with [`Emulator::start`];
//! admins run the `sf-emulator` binary.
//!
//! The same process also emulates the Salesforce REST side over the same org: the OAuth 2.0 JWT bearer
//! token endpoint (`/services/oauth2/token`) and `/services/data/vNN.N/...` (sObjects, platform events,
//! SOQL query with paging, SOSL search) and the Connect REST API conversation upload
//! (`/services/data/vNN.N/connect/conversations/upload`); see [`rest`] and [`rest::conversations`].
//!
//! Modules: [`config`] (org configuration), [`keys`] (test key pairs), [`auth`] (JWT verification),
//! [`state`] (org records, shared by both APIs), [`telephony`] (endpoints and validation), [`rest`]
//! (REST side), [`schema`] (sObject registry), [`soql`] / [`sosl`] (query and search parsers),
//! [`faults`] (fault injection), [`inspect`] (recorded requests and the `/__emulator` control API),
//! [`server`] (HTTP serving), [`console`] (the web console at `/console` and its demo data).

pub mod auth;
pub mod config;
pub mod console;
pub mod errors;
pub mod faults;
pub mod inspect;
pub mod keys;
pub mod rest;
pub mod schema;
pub mod server;
pub mod soql;
pub mod sosl;
pub mod state;
pub mod telephony;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::{EmulatorConfig, RestConfig, RoutingAnswer, RoutingConfig};
pub use errors::ApiError;
pub use faults::{BulkEntryFault, Fault};
pub use inspect::RecordedRequest;
pub use state::{CallRouting, Message, PendingServiceRouting, VoiceCall};

use server::{ConnectionHandle, Inner, KillableListener, Shared, lock};

/// A running emulator. Dropping it stops the server (gracefully, in the background).
pub struct Emulator {
    shared: Shared,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start(config: EmulatorConfig) -> anyhow::Result<Emulator> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts on the given address.
    pub async fn start_on(config: EmulatorConfig, addr: SocketAddr) -> anyhow::Result<Emulator> {
        let keys = auth::parse_public_keys(&config.scrt_public_keys).map_err(anyhow::Error::msg)?;
        let rest_keys = auth::parse_public_keys(&config.rest.connected_app_public_keys)
            .map_err(|e| anyhow::anyhow!("connected app {e}"))?;
        let shared: Shared =
            Arc::new(Mutex::new(Inner::new(config.org_id, config.call_center_api_name, keys, config.routing)));
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        {
            let mut inner = lock(&shared);
            inner.base_url = format!("http://{addr}");
            inner.rest.config = config.rest;
            inner.rest.keys = rest_keys;
        }
        let (stop, stopped) = oneshot::channel::<()>();
        let service = server::app(shared.clone()).into_make_service_with_connect_info::<ConnectionHandle>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(KillableListener(listener), service).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "emulator server stopped with an error");
            }
        });
        Ok(Emulator { shared, addr, stop: Some(stop), task: Some(task) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `base_url() + "/telephony/v1"`: what `SCRT_ENDPOINT_BASE` is set to.
    pub fn scrt_base(&self) -> String {
        format!("{}{}", self.base_url(), telephony::BASE_PATH)
    }

    /// Queues a fault.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared).faults.push(fault);
    }

    /// Makes the next `count` bulk transcript entries for `vendor_call_key` fail (entry status 500) inside
    /// an otherwise processed bulk request, so the answer is a 207 multi-status.
    pub fn fail_bulk_entries(&self, vendor_call_key: &str, count: u32) {
        lock(&self.shared).faults.push_bulk(BulkEntryFault {
            vendor_call_key: vendor_call_key.to_owned(),
            count,
            status: 500,
        });
    }

    /// Answers 429 at once to every API request beyond `limit` in flight (a concurrent request
    /// limit); `None` lifts it.
    pub fn limit_concurrency(&self, limit: Option<usize>) {
        lock(&self.shared).concurrency_limit = limit;
    }

    /// Removes every pending fault (including bulk entry faults).
    pub fn clear_faults(&self) {
        lock(&self.shared).faults.clear();
    }

    /// Every API request so far (control requests excluded), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The requests with exactly this method (case-insensitive) and path.
    pub fn requests_to(&self, method: &str, path: &str) -> Vec<RecordedRequest> {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.method.eq_ignore_ascii_case(method) && r.path == path)
            .cloned()
            .collect()
    }

    /// A call by 0LQ id, or the latest created for that vendor call key.
    pub fn voice_call(&self, id_or_vendor_key: &str) -> Option<VoiceCall> {
        lock(&self.shared).org.find_call(id_or_vendor_key).cloned()
    }

    /// Every call, in creation order.
    pub fn voice_calls(&self) -> Vec<VoiceCall> {
        lock(&self.shared).org.voice_calls.clone()
    }

    /// The org state as served by `GET /__emulator/state`.
    pub fn state_json(&self) -> serde_json::Value {
        lock(&self.shared).state_json()
    }

    /// Replaces the accepted public keys (key rotation). Invalid PEMs are skipped with a warning; use
    /// [`Emulator::try_set_scrt_public_keys`] to get an error instead.
    pub fn set_scrt_public_keys(&self, pems: Vec<String>) {
        let keys: Vec<_> = pems
            .iter()
            .enumerate()
            .filter_map(|(i, pem)| match auth::parse_public_keys(std::slice::from_ref(pem)) {
                Ok(mut parsed) => parsed.pop(),
                Err(why) => {
                    tracing::warn!("skipping SCRT public key #{i}: {why}");
                    None
                }
            })
            .collect();
        let mut inner = lock(&self.shared);
        inner.key_count = keys.len();
        inner.keys = keys;
    }

    /// Replaces the accepted public keys; fails (and changes nothing) if one is not a valid PEM.
    pub fn try_set_scrt_public_keys(&self, pems: Vec<String>) -> anyhow::Result<()> {
        let keys = auth::parse_public_keys(&pems).map_err(anyhow::Error::msg)?;
        let mut inner = lock(&self.shared);
        inner.key_count = keys.len();
        inner.keys = keys;
        Ok(())
    }

    /// Replaces the routing answers.
    pub fn set_routing(&self, routing: RoutingConfig) {
        lock(&self.shared).routing = routing;
    }

    /// `base_url() + "/services/data/v62.0"`: what `SALESFORCE_REST_API_ENDPOINT_BASE` is set to.
    pub fn rest_base(&self) -> String {
        format!("{}{}/v{}", self.base_url(), rest::DATA_PATH, rest::DEFAULT_VERSION)
    }

    /// `base_url() + "/services/oauth2/token"`: what `SALESFORCE_AUTH_ENDPOINT` is set to.
    pub fn token_url(&self) -> String {
        format!("{}{}", self.base_url(), rest::TOKEN_PATH)
    }

    /// Replaces the connected app's public keys (certificate rotation). Invalid PEMs are skipped with a
    /// warning.
    pub fn set_connected_app_public_keys(&self, pems: Vec<String>) {
        let keys: Vec<_> = pems
            .iter()
            .enumerate()
            .filter_map(|(i, pem)| match auth::parse_public_keys(std::slice::from_ref(pem)) {
                Ok(mut parsed) => parsed.pop(),
                Err(why) => {
                    tracing::warn!("skipping connected app public key #{i}: {why}");
                    None
                }
            })
            .collect();
        let mut inner = lock(&self.shared);
        inner.rest.keys = keys;
        inner.rest.config.connected_app_public_keys = pems;
    }

    /// Replaces the REST configuration (connected app keys included; invalid PEMs are skipped).
    pub fn set_rest_config(&self, config: RestConfig) {
        let pems = config.connected_app_public_keys.clone();
        lock(&self.shared).rest.config = config;
        self.set_connected_app_public_keys(pems);
    }

    /// The current REST configuration.
    pub fn rest_config(&self) -> RestConfig {
        lock(&self.shared).rest.config.clone()
    }

    /// Every access token issued so far answers 401 `INVALID_SESSION_ID` from now on.
    pub fn expire_access_tokens(&self) {
        lock(&self.shared).rest.sessions.expire_all();
    }

    /// How many access tokens the token endpoint issued.
    pub fn issued_token_count(&self) -> usize {
        lock(&self.shared).rest.sessions.issued()
    }

    /// Seeds a record (as `POST /sobjects/{object}` would, same validation); returns its id. Platform
    /// events are published; VoiceCall records must be created through the Telephony API.
    pub fn insert_record(&self, object: &str, fields: serde_json::Value) -> anyhow::Result<String> {
        let mut inner = lock(&self.shared);
        rest::insert_record(&mut inner, object, fields)
            .map_err(|e| anyhow::anyhow!("{} {}: {}", e.status, e.code, e.message))
    }

    /// Every record of an object in REST shape (with `attributes`), in creation order.
    pub fn records(&self, object: &str) -> Vec<serde_json::Value> {
        let inner = lock(&self.shared);
        rest::all_records(&inner, object)
    }

    /// One record in REST shape, by id (any object).
    pub fn record(&self, object: &str, id: &str) -> Option<serde_json::Value> {
        let inner = lock(&self.shared);
        rest::one_record(&inner, object, id)
    }

    /// The published events of a platform event (e.g. `RealtimeAlertEvent`), oldest first.
    pub fn platform_events(&self, name: &str) -> Vec<serde_json::Value> {
        let inner = lock(&self.shared);
        inner
            .org
            .rest
            .platform_events
            .iter()
            .filter(|e| e["attributes"]["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(name)))
            .cloned()
            .collect()
    }

    /// Every accepted Connect API conversation upload (one per multipart part), oldest first.
    pub fn conversation_uploads(&self) -> Vec<rest::conversations::ConversationUpload> {
        lock(&self.shared).org.rest.conversations.uploads.clone()
    }

    /// A conversation stored by the Connect API upload, by conversation id (the vendor call key).
    pub fn conversation(&self, conversation_id: &str) -> Option<rest::conversations::StoredConversation> {
        lock(&self.shared).org.rest.conversations.conversations.get(conversation_id).cloned()
    }

    /// Seeds an inbound VoiceCall for `vendor_call_key` started at `start` and, when `end` is given,
    /// closed at `end` (what createVoiceCall and the CTR sync's update do through the Telephony API);
    /// returns its 0LQ id. For tests of the functions that need a call but not the Telephony API.
    pub fn seed_voice_call(&self, vendor_call_key: &str, start: &str, end: Option<&str>) -> anyhow::Result<String> {
        let mut inner = lock(&self.shared);
        let call_center = inner.call_center_api_name.clone();
        let create = serde_json::json!({
            "callCenterApiName": call_center, "vendorCallKey": vendor_call_key, "to": "+15555550100",
            "from": "+15555550123", "initiationMethod": "Inbound", "startTime": start,
            "participants": [{"type": "END_USER", "participantKey": "+15555550123"}],
        });
        let created = telephony::voice_calls::create(&mut inner.org, &call_center, Some(&create))
            .map_err(|e| anyhow::anyhow!("seeding VoiceCall {vendor_call_key}: {e:?}"))?;
        let id = created["voiceCallId"].as_str().unwrap_or_default().to_owned();
        if let Some(end) = end {
            let close = serde_json::json!({"startTime": start, "endTime": end, "isActiveCall": false});
            telephony::voice_calls::update(&mut inner.org, &call_center, &id, Some(&close))
                .map_err(|e| anyhow::anyhow!("closing VoiceCall {vendor_call_key}: {e:?}"))?;
        }
        Ok(id)
    }

    /// Sets the CreatedDate of a VoiceCall (by 0LQ id or vendor call key), e.g. to age it out of a
    /// `LAST_N_DAYS` window. False when there is no such call.
    pub fn set_voice_call_created_date(&self, id_or_vendor_key: &str, at: chrono::DateTime<chrono::Utc>) -> bool {
        rest::store::set_voice_call_created(&mut lock(&self.shared).org, id_or_vendor_key, at)
    }

    /// Clears org state, recorded requests, faults and seen jtis (keeps keys and routing).
    pub fn reset(&self) {
        lock(&self.shared).reset();
    }

    /// Stops the server and waits (at most 5 s) for open connections to finish.
    pub async fn shutdown(mut self) {
        lock(&self.shared).closing = true;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        lock(&self.shared).closing = true;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
