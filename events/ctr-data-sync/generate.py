#!/usr/bin/env python3
"""Writes the CTRDataSync sample events: a realistic 100-record Kinesis batch of Amazon Connect
contact trace records, and a small mixed batch (skips, a voicemail, a poison record, one contact
twice). Deterministic: run it again and the files come out the same."""
import base64, json, random, uuid
from datetime import datetime, timedelta, timezone

rng = random.Random(20261121)
ACCOUNT = "123456789012"
INSTANCE = "8d2e7f4b-1c3a-4e5d-9f6b-7a8c9d0e1f2a"
INSTANCE_ARN = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/{INSTANCE}"
STREAM_ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/ACME_CC-{ACCOUNT}-CTRStream"
QUEUES = ["BasicQueue", "Billing", "Support_Tier2", "Sales"]
REASONS = ["CUSTOMER_DISCONNECT", "AGENT_DISCONNECT", "TELECOM_PROBLEM", "CONTACT_FLOW_DISCONNECT", "OTHER", "THIRD_PARTY_DISCONNECT"]
METHODS = ["INBOUND"] * 12 + ["TRANSFER"] * 3 + ["OUTBOUND", "CALLBACK", "API", "WEBRTC_API"]
BASE = datetime(2026, 11, 21, 9, 0, 0, tzinfo=timezone.utc)


def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def contact_id():
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def ctr(n, method=None, contact=None, previous=None, attributes=None, channel="VOICE", recordings=None):
    method = method or rng.choice(METHODS)
    cid = contact or contact_id()
    start = BASE + timedelta(seconds=37 * n)
    enqueue = start + timedelta(seconds=rng.randint(5, 40))
    accept = enqueue + timedelta(seconds=rng.randint(3, 90))
    holds = rng.randint(0, 3)
    hold_total = sum(rng.randint(5, 60) for _ in range(holds))
    talk = rng.randint(30, 900)
    end = accept + timedelta(seconds=talk + hold_total + rng.randint(0, 20))
    queue = rng.choice(QUEUES)
    attrs = {"sfdc-SourceType": "Service", "language": "en-US"}
    if rng.random() < 0.4:
        attrs["sfdc-IVR_Choice__c"] = str(rng.randint(1, 5))
    if rng.random() < 0.1:
        attrs["sf_realtime_transcription_status"] = "Exceeded the transcription limit"
    if method == "WEBRTC_API":
        attrs["WebRTC_From"] = f"visitor{n}@example.com"
        attrs["WebRTC_To"] = "support@acme.example"
    if attributes is not None:
        attrs = attributes
    customer = {"Address": f"+1555{rng.randint(1000000, 9999999)}", "Type": "TELEPHONE_NUMBER"}
    system = {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"}
    recording_key = f"acme-connect-recordings/connect/acme/CallRecordings/2026/11/21/{cid}_{start.strftime('%Y%m%dT%H:%M')}_UTC.wav"
    record = {
        "AWSAccountId": ACCOUNT,
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Agent": {
            "ARN": f"{INSTANCE_ARN}/agent/{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "AfterContactWorkDuration": rng.randint(0, 120),
            "AfterContactWorkEndTimestamp": ts(end + timedelta(seconds=60)),
            "AfterContactWorkStartTimestamp": ts(end),
            "AgentInteractionDuration": talk,
            "ConnectedToAgentTimestamp": ts(accept),
            "CustomerHoldDuration": hold_total,
            "HierarchyGroups": None,
            "LongestHoldDuration": min(hold_total, rng.randint(5, 60)) if holds else 0,
            "NumberOfHolds": holds,
            "RoutingProfile": {"ARN": f"{INSTANCE_ARN}/routing-profile/{uuid.UUID(int=rng.getrandbits(128), version=4)}", "Name": "Basic Routing Profile"},
            "Username": f"rep{rng.randint(1, 40)}",
        },
        "AgentConnectionAttempts": 1,
        "Attributes": attrs,
        "Channel": channel,
        "ConnectedToSystemTimestamp": ts(start + timedelta(seconds=1)),
        "ContactId": cid,
        "CustomerEndpoint": None if method == "WEBRTC_API" else customer,
        "DisconnectReason": rng.choice(REASONS),
        "DisconnectTimestamp": ts(end),
        "InitialContactId": previous or cid,
        "InitiationMethod": method,
        "InitiationTimestamp": ts(start),
        "InstanceARN": INSTANCE_ARN,
        "LastUpdateTimestamp": ts(end + timedelta(seconds=65)),
        "MediaStreams": [{"Type": "AUDIO"}],
        "NextContactId": None,
        "PreviousContactId": previous,
        "Queue": {"ARN": f"{INSTANCE_ARN}/queue/{queue.lower()}", "DequeueTimestamp": ts(accept), "Duration": int((accept - enqueue).total_seconds()), "EnqueueTimestamp": ts(enqueue), "Name": queue},
        "Recording": {"DeletionReason": None, "Location": recording_key, "Status": "AVAILABLE", "Type": "AUDIO"},
        "Recordings": recordings if recordings is not None else [{"DeletionReason": None, "FragmentStartNumber": None, "FragmentStopNumber": None, "Location": recording_key, "MediaStreamType": "AUDIO", "ParticipantType": None, "StartTimestamp": None, "Status": "AVAILABLE", "StopTimestamp": None, "StorageType": "S3"}],
        "References": [],
        "SystemEndpoint": None if method == "WEBRTC_API" else system,
        "TransferCompletedTimestamp": None,
        "TransferredToEndpoint": None,
    }
    return record


def kinesis_record(n, data_b64, partition_key):
    seq = f"4963{n:04d}" + "5" * 46
    return {
        "kinesis": {"kinesisSchemaVersion": "1.0", "partitionKey": partition_key, "sequenceNumber": seq, "data": data_b64, "approximateArrivalTimestamp": 1795251600.0 + n * 1.5},
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/ACME_CC-CTRDataSyncFunctionRole",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM_ARN,
    }


def encode(obj):
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode()


def batch(ctrs):
    return {"Records": [kinesis_record(i, encode(c) if isinstance(c, dict) else c, (c.get("ContactId") if isinstance(c, dict) else "poison") or "none") for i, c in enumerate(ctrs)]}


hundred = [ctr(n) for n in range(100)]
with open("batch-100.json", "w") as f:
    json.dump(batch(hundred), f, indent=1)
    f.write("\n")

first = ctr(200, method="INBOUND")
transfer = ctr(201, method="TRANSFER", previous=first["ContactId"])
updated = dict(first, LastUpdateTimestamp=ts(BASE + timedelta(hours=1)), Attributes=dict(first["Attributes"], **{"sfdc-Disposition__c": "Resolved"}))
kvs = f"arn:aws:kinesisvideo:us-east-1:{ACCOUNT}:stream/acme-connect-contact-{uuid.UUID(int=rng.getrandbits(128), version=4)}/1795251600000"
mixed = [
    first,
    ctr(202, attributes={"NoSync": "true", "sfdc-SourceType": "Service"}),
    ctr(203, channel="CHAT"),
    ctr(204, attributes={"vm_flag": "1", "vm_lang": "en-US", "vm_from": "+15555550123"}, recordings=[{"Location": kvs, "FragmentStartNumber": "91343852333181432392682062606541225733125542322", "FragmentStopNumber": "91343852333181432392682062606541225733125542387", "MediaStreamType": "AUDIO", "StorageType": "KINESIS_VIDEO_STREAM", "StartTimestamp": ts(BASE), "StopTimestamp": ts(BASE + timedelta(seconds=30))}]),
    "eyJDb250YWN0SWQiOiAi!!! this record is corrupted",
    transfer,
    updated,
]
with open("mixed-batch.json", "w") as f:
    json.dump(batch(mixed), f, indent=1)
    f.write("\n")
print("wrote batch-100.json and mixed-batch.json")

# The demo call's CTRs: the inbound call, the WebRTC call and the transfer created by the
# InvokeTelephonyIntegrationApi samples, plus one poison record.
A, B, C = "6f1b7c1e-2d4a-4c8e-9b1f-3a5d7e9c0b21", "b3e2a9d4-5c6f-4e7a-8b9c-0d1e2f3a4b5c", "d7c6b5a4-3f2e-4d1c-8b0a-9e8f7d6c5b4a"
inbound_attrs = {"sfdc-SourceType": "Service", "language": "en-US", "sfdc-Department__c": "Billing", "sfdc-IVR_Choice__c": "2"}


def demo_ctr(cid, method, start, accept, end, hold, holds, previous=None, attributes=None, webrtc=False):
    record = ctr(300, method=method, contact=cid, previous=previous, attributes=attributes or inbound_attrs)
    record.update({
        "InitiationTimestamp": start, "DisconnectTimestamp": end, "DisconnectReason": "CUSTOMER_DISCONNECT",
        "CustomerEndpoint": None if webrtc else {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
        "SystemEndpoint": None if webrtc else {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"},
    })
    record["Agent"].update({"ConnectedToAgentTimestamp": accept, "CustomerHoldDuration": hold, "NumberOfHolds": holds, "LongestHoldDuration": hold})
    record["Queue"].update({"EnqueueTimestamp": start, "Name": "Billing"})
    return record


demo = [
    demo_ctr(A, "INBOUND", "2026-11-21T09:15:02Z", "2026-11-21T09:15:41Z", "2026-11-21T09:21:05Z", 34, 2),
    demo_ctr(B, "WEBRTC_API", "2026-11-21T09:16:40Z", "2026-11-21T09:17:02Z", "2026-11-21T09:24:10Z", 0, 0,
             attributes={"WebRTC_From": "jane.doe@example.com", "WebRTC_To": "support@acme.example", "sfdc-SourceType": "Sales"}, webrtc=True),
    demo_ctr(C, "TRANSFER", "2026-11-21T09:19:44Z", "2026-11-21T09:20:03Z", "2026-11-21T09:26:30Z", 12, 1, previous=A),
    "eyJDb250YWN0SWQiOiAi***truncated-by-a-broken-producer",
]
with open("demo-call-ctrs.json", "w") as f:
    json.dump(batch(demo), f, indent=1)
    f.write("\n")
print("wrote demo-call-ctrs.json")
