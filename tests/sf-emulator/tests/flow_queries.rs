//! The two flow look-ups of InvokeSalesforceRestApi answered from seeded records, over HTTP:
//! `SFSPhoneCallFlowQuery` (Field Service appointment assistant: the assigned resource's phone by caller
//! number) and `fetchOutboundPhoneNumber` (the voice channel number of an agent), with the exact SOQL the
//! official functions send, and the semi-join sub-queries the second one needs.

mod common;

use common::*;
use serde_json::{Value, json};

const CONSUMER_KEY: &str = "3MVG9-emulator-consumer-key";
const USER: &str = "integration@acme.example";
const CALLER: &str = "+14155550100";
const AGENT_1: &str = "arn:aws:connect:us-east-1:123456789012:instance/4b1d/agent/agent-1";
const AGENT_2: &str = "arn:aws:connect:us-east-1:123456789012:instance/4b1d/agent/agent-2";

async fn start() -> (Org, String) {
    let org = Org::start().await;
    org.emu.set_connected_app_public_keys(vec![org.keys.public_pem.clone()]);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": CONSUMER_KEY, "sub": USER, "aud": "https://login.salesforce.com",
        "iat": now, "exp": now + 180, "jti": uuid::Uuid::new_v4().to_string(),
    });
    let assertion = org.keys.sign(&claims).expect("sign");
    let response = org
        .http
        .post(org.emu.token_url())
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
        .send()
        .await
        .expect("token transport");
    let body: Value = response.json().await.expect("token json");
    let token = body["access_token"].as_str().expect("access_token").to_owned();
    (org, token)
}

async fn query(org: &Org, soql: &str, token: &str) -> Answer {
    let encoded = percent_encoding::utf8_percent_encode(soql, percent_encoding::NON_ALPHANUMERIC).to_string();
    let response = org
        .http
        .get(format!("{}/services/data/v62.0/query/?q={encoded}", org.emu.base_url()))
        .bearer_auth(token)
        .send()
        .await
        .expect("transport");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer { status, body, headers }
}

fn seed(org: &Org, object: &str, fields: Value) -> String {
    org.emu.insert_record(object, fields).unwrap_or_else(|e| panic!("seeding {object}: {e}"))
}

/// The appointment assistant query, as the official function builds it.
fn assigned_resource_query(status: &str, phone: &str) -> String {
    format!(
        "SELECT ServiceResource.RelatedRecord.Phone FROM AssignedResource WHERE LocationStatus in ('EnRoute','LastMile') \
         AND ServiceAppointment.Status='{status}' AND ServiceAppointment.Contact.Phone='{phone}' \
         ORDER BY AssignedResourceNumber DESC LIMIT 1"
    )
}

/// The outbound number query, as the official function builds it.
fn outbound_query(call_center: &str, agent_arn: &str) -> String {
    format!(
        "SELECT MessagingPlatformKey FROM MessagingChannel WHERE MessageType='Voice' AND IsActive = true AND Id in \
         (SELECT ChannelId FROM ContactCenterChannel WHERE ContactCenterChannel.ContactCenter.InternalName='{call_center}') \
         AND SessionHandlerId in (SELECT ReferenceRecordId FROM CallCenterRoutingMap WHERE ExternalId='{agent_arn}') LIMIT 1"
    )
}

#[tokio::test]
async fn the_appointment_assistant_lookup_answers_the_latest_en_route_resource_phone() {
    let (org, token) = start().await;
    seed(&org, "FieldServiceOrgSettings", json!({"ApptAssistantStatus": "En Route"}));
    let caller = seed(&org, "Contact", json!({"LastName": "Caller", "Phone": CALLER}));
    let someone = seed(&org, "Contact", json!({"LastName": "Someone", "Phone": "+14155550999"}));
    let tech1 =
        seed(&org, "User", json!({"Username": "tech1@acme.example", "LastName": "One", "Phone": "+14155550111"}));
    let tech2 =
        seed(&org, "User", json!({"Username": "tech2@acme.example", "LastName": "Two", "Phone": "+14155550122"}));
    let r1 = seed(&org, "ServiceResource", json!({"Name": "Tech One", "RelatedRecordId": tech1}));
    let r2 = seed(&org, "ServiceResource", json!({"Name": "Tech Two", "RelatedRecordId": tech2}));
    let en_route = seed(&org, "ServiceAppointment", json!({"Status": "En Route", "ContactId": caller}));
    let scheduled = seed(&org, "ServiceAppointment", json!({"Status": "Scheduled", "ContactId": caller}));
    let other = seed(&org, "ServiceAppointment", json!({"Status": "En Route", "ContactId": someone}));
    let assign = |sa: &str, sr: &str, location: &str| {
        seed(
            &org,
            "AssignedResource",
            json!({"ServiceAppointmentId": sa, "ServiceResourceId": sr, "LocationStatus": location}),
        )
    };
    assign(&en_route, &r1, "EnRoute"); // AR-0001
    assign(&en_route, &r2, "LastMile"); // AR-0002: the latest matching one
    assign(&scheduled, &r1, "EnRoute"); // wrong appointment status
    assign(&other, &r1, "EnRoute"); // another caller
    assign(&en_route, &r1, "None"); // AR-0005: not on the way

    let settings = query(&org, "SELECT ApptAssistantStatus FROM FieldServiceOrgSettings", &token).await;
    assert_eq!(settings.status, 200, "{}", settings.body);
    assert_eq!(settings.body["records"][0]["ApptAssistantStatus"], "En Route");

    let answer = query(&org, &assigned_resource_query("En Route", CALLER), &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalSize"], 1);
    let record = &answer.body["records"][0];
    assert_eq!(record["attributes"]["type"], "AssignedResource");
    assert_eq!(record["ServiceResource"]["attributes"]["type"], "ServiceResource");
    assert_eq!(record["ServiceResource"]["RelatedRecord"]["attributes"]["type"], "User");
    assert_eq!(record["ServiceResource"]["RelatedRecord"]["Phone"], "+14155550122");

    // Without LIMIT: both matching assignments, latest number first.
    let all = assigned_resource_query("En Route", CALLER).replace(" LIMIT 1", "").replace(
        "SELECT ServiceResource.RelatedRecord.Phone",
        "SELECT AssignedResourceNumber, ServiceResource.RelatedRecord.Phone",
    );
    let answer = query(&org, &all, &token).await;
    let numbers: Vec<&str> = answer.body["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["AssignedResourceNumber"].as_str())
        .collect();
    assert_eq!(numbers, vec!["AR-0002", "AR-0001"]);

    // No appointment for an unknown number, or for a status the settings do not name.
    assert_eq!(query(&org, &assigned_resource_query("En Route", "+14155550000"), &token).await.body["totalSize"], 0);
    assert_eq!(query(&org, &assigned_resource_query("Dispatched", CALLER), &token).await.body["totalSize"], 0);
    // A resource whose user has no phone answers a null phone.
    let phoneless = seed(&org, "User", json!({"Username": "tech3@acme.example", "LastName": "Three"}));
    let r3 = seed(&org, "ServiceResource", json!({"Name": "Tech Three", "RelatedRecordId": phoneless}));
    assign(&en_route, &r3, "EnRoute"); // AR-0006
    let answer = query(&org, &assigned_resource_query("En Route", CALLER), &token).await;
    assert_eq!(answer.body["records"][0]["ServiceResource"]["RelatedRecord"]["Phone"], Value::Null);
    // Auto numbers on the appointment too.
    let appointments = org.emu.records("ServiceAppointment");
    assert_eq!(appointments[0]["AppointmentNumber"], "SA-0001");
    assert_eq!(appointments[0]["Status"], "En Route");
    // An unescaped quote in the caller number is a syntax error, never a wider match; escaped, no match.
    let injected = query(&org, &assigned_resource_query("En Route", "x' OR Name != '"), &token).await;
    assert_eq!(injected.status, 400, "{}", injected.body);
    assert_eq!(injected.body[0]["errorCode"], "MALFORMED_QUERY");
    let escaped = query(&org, &assigned_resource_query("En Route", "x\\' OR Name != \\'"), &token).await;
    assert_eq!((escaped.status, escaped.body["totalSize"].clone()), (200, json!(0)));
}

/// Seeds two contact centers, their voice channels and the agents' routing maps; returns the id of a
/// channel linked to no contact center.
async fn seed_channels(org: &Org) -> String {
    // Seeded over the control API, as a test in another language would.
    let post = |object: &str, fields: Value| {
        let request = org.http.post(format!("{}/__emulator/records/{object}", org.emu.base_url())).json(&fields);
        async move {
            let response = request.send().await.expect("seed transport");
            assert_eq!(response.status().as_u16(), 201);
            let body: Value = response.json().await.expect("seed json");
            body["id"].as_str().expect("id").to_owned()
        }
    };
    let ours = post("ContactCenter", json!({"Name": "HVCC", "InternalName": CC})).await;
    let theirs = post("ContactCenter", json!({"Name": "Other", "InternalName": "OtherCC"})).await;
    let channel = |label: &str, kind: &str, active: bool, key: &str, handler: &str| json!({"MasterLabel": label, "MessageType": kind, "IsActive": active, "MessagingPlatformKey": key, "SessionHandlerId": handler});
    let main = post("MessagingChannel", channel("Main line", "Voice", true, "+18005550100", "00GXX0000000001")).await;
    let inactive =
        post("MessagingChannel", channel("Old line", "Voice", false, "+18005550101", "00GXX0000000001")).await;
    let text = post("MessagingChannel", channel("SMS", "Text", true, "+18005550102", "00GXX0000000001")).await;
    let elsewhere =
        post("MessagingChannel", channel("Other CC", "Voice", true, "+18005550103", "00GXX0000000001")).await;
    let second =
        post("MessagingChannel", channel("Second line", "Voice", true, "+18005550104", "00GXX0000000002")).await;
    let unlinked =
        post("MessagingChannel", channel("Unlinked", "Voice", true, "+18005550105", "00GXX0000000003")).await;
    for (center, channel) in
        [(&ours, &inactive), (&ours, &text), (&theirs, &elsewhere), (&ours, &main), (&ours, &second)]
    {
        post("ContactCenterChannel", json!({"ContactCenterId": center, "ChannelId": channel})).await;
    }
    post(
        "CallCenterRoutingMap",
        json!({"Name": "agent 1", "ExternalId": AGENT_1, "ReferenceRecordId": "00GXX0000000001"}),
    )
    .await;
    post(
        "CallCenterRoutingMap",
        json!({"Name": "agent 2", "ExternalId": AGENT_2, "ReferenceRecordId": "00GXX0000000002"}),
    )
    .await;
    unlinked
}

#[tokio::test]
async fn the_outbound_number_lookup_answers_the_agents_active_voice_channel_of_this_contact_center() {
    let (org, token) = start().await;
    seed_channels(&org).await;
    let answer = query(&org, &outbound_query(CC, AGENT_1), &token).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalSize"], 1);
    assert_eq!(answer.body["records"][0]["attributes"]["type"], "MessagingChannel");
    assert_eq!(answer.body["records"][0]["MessagingPlatformKey"], "+18005550100");
    assert_eq!(
        query(&org, &outbound_query(CC, AGENT_2), &token).await.body["records"][0]["MessagingPlatformKey"],
        "+18005550104"
    );
    // Without LIMIT the first agent still has exactly one channel: inactive, text and other-center ones are out.
    let all = outbound_query(CC, AGENT_1).replace(" LIMIT 1", "");
    assert_eq!(query(&org, &all, &token).await.body["totalSize"], 1);
    // Unknown agent, unknown contact center: no record.
    assert_eq!(query(&org, &outbound_query(CC, "arn:aws:connect:x:agent/nobody"), &token).await.body["totalSize"], 0);
    assert_eq!(query(&org, &outbound_query("NoSuchCC", AGENT_1), &token).await.body["totalSize"], 0);
    // The other contact center sees its own channel for the same agent.
    let theirs = query(&org, &outbound_query("OtherCC", AGENT_1), &token).await;
    assert_eq!(theirs.body["records"][0]["MessagingPlatformKey"], "+18005550103");
}

#[tokio::test]
async fn semi_joins_follow_soql_rules() {
    let (org, token) = start().await;
    let unlinked = seed_channels(&org).await;
    // Anti-join.
    let answer = query(
        &org,
        "SELECT Id, MasterLabel FROM MessagingChannel WHERE Id NOT IN (SELECT ChannelId FROM ContactCenterChannel)",
        &token,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["totalSize"], 1);
    assert_eq!(answer.body["records"][0]["Id"], unlinked.as_str());
    // A sub-query matching nothing: IN is false for every row.
    let none = "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM ContactCenterChannel WHERE ContactCenter.InternalName = 'none')";
    assert_eq!(query(&org, none, &token).await.body["totalSize"], 0);

    let refused = [
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId, ContactCenterId FROM ContactCenterChannel)",
            "exactly one field",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ContactCenter.Id FROM ContactCenterChannel)",
            "cannot traverse a relationship",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM ContactCenterChannel LIMIT 1)",
            "ORDER BY, LIMIT and OFFSET",
        ),
        ("SELECT Id FROM MessagingChannel WHERE Id IN (SELECT COUNT() FROM ContactCenterChannel)", "COUNT()"),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM ContactCenterChannel WHERE ContactCenterId IN (SELECT Id FROM ContactCenter))",
            "cannot be nested",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE IsActive = true OR Id IN (SELECT ChannelId FROM ContactCenterChannel)",
            "cannot be used with OR",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM ContactCenterChannel) OR IsActive = true",
            "cannot be used with OR",
        ),
        ("SELECT Id FROM MessagingChannel WHERE NOT Id IN (SELECT ChannelId FROM ContactCenterChannel)", "use NOT IN"),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM ContactCenterChannel) AND Id IN (SELECT ChannelId FROM ContactCenterChannel) AND Id IN (SELECT ChannelId FROM ContactCenterChannel)",
            "at most 2",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE MasterLabel IN (SELECT ChannelId FROM ContactCenterChannel)",
            "must be an Id or reference field",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT InternalName FROM ContactCenter)",
            "selected field must be an Id or reference",
        ),
        (
            "SELECT Id FROM MessagingChannel WHERE Id IN (SELECT ChannelId FROM Nope)",
            "sObject type 'Nope' is not supported",
        ),
    ];
    for (soql, text) in refused {
        let answer = query(&org, soql, &token).await;
        assert_eq!(answer.status, 400, "{soql}: {}", answer.body);
        let message = answer.body[0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(text), "{soql}: {message:?} should contain {text:?}");
    }
}
