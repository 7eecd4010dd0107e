#!/usr/bin/env python3
"""Writes the sample Kinesis events of VoiceMailAudioProcessing from the Kinesis Video fixture
(tests/fixtures/voicemail/kvs-stream.json), so the CTR names the fixture's stream and fragments.

    python3 events/voicemail-audio-processing/generate.py
"""

import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
fixture = json.load(open(os.path.join(ROOT, "tests", "fixtures", "voicemail", "kvs-stream.json")))
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/acme-connect-ctr"


def ctr_voicemail():
    return {
        "AWSAccountId": "123456789012",
        "AWSContactTraceRecordFormatVersion": "2017-03-10",
        "Channel": "VOICE",
        "ContactId": fixture["contactId"],
        "InitialContactId": None,
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2024-01-04T19:49:19Z",
        "ConnectedToSystemTimestamp": "2024-01-04T19:49:19Z",
        "DisconnectTimestamp": "2024-01-04T19:50:07Z",
        "DisconnectReason": "CUSTOMER_DISCONNECT",
        "InstanceARN": "arn:aws:connect:us-east-1:123456789012:instance/" + fixture["instanceId"],
        "SystemEndpoint": {"Address": "+15555550100", "Type": "TELEPHONE_NUMBER"},
        "CustomerEndpoint": {"Address": "+15555550123", "Type": "TELEPHONE_NUMBER"},
        "Queue": None,
        "Agent": None,
        "Recording": None,
        "Recordings": [{
            "DeletionReason": None,
            "FragmentStartNumber": fixture["fragmentStartNumber"],
            "FragmentStopNumber": fixture["fragmentStopNumber"],
            "Location": fixture["streamArn"],
            "MediaStreamType": "AUDIO",
            "ParticipantType": "CUSTOMER",
            "StartTimestamp": "2024-01-04T19:50:01Z",
            "Status": None,
            "StopTimestamp": "2024-01-04T19:50:06Z",
            "StorageType": "KINESIS_VIDEO_STREAM",
        }],
        "Attributes": {"vm_flag": "1", "vm_lang": "en-US", "vm_from": "+15555550123", "sfdc-Reason__c": "Order"},
    }


def record(data, seq, partition_key, raw=False):
    encoded = data if raw else base64.b64encode(json.dumps(data).encode()).decode()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": encoded,
            "approximateArrivalTimestamp": 1704397810.123,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000000:" + seq,
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/VoiceMailAudioProcessingRole",
        "awsRegion": "us-east-1",
        "eventSourceARN": STREAM,
    }


SEQ = "4964062337934271826357452930868853012254711713626767"


def seq(n):
    return SEQ + "%02d" % n


def write(name, records):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump({"Records": records}, f, indent=2)
        f.write("\n")


vm = ctr_voicemail()
write("voicemail-ctr.json", [record(vm, seq(1), vm["ContactId"])])

inbound = dict(ctr_voicemail(), ContactId="0f5d4c3b-2a19-4e87-b6a5-948372615aa0", Attributes={"sfdc-Reason__c": "Billing"},
               Recordings=None)
processed = dict(ctr_voicemail(), ContactId="2c4e6a8b-0d1f-4a3c-9e5b-7d9f1b3c5e7a",
                 Attributes={"vm_flag": "0", "vm_lang": "en-US", "vm_from": "+15555550144"})
write("mixed-batch.json", [
    record(inbound, seq(2), inbound["ContactId"]),
    record(vm, seq(3), vm["ContactId"]),
    record(processed, seq(4), processed["ContactId"]),
    record("eyJDb250YWN0SWQiOiAi%%%not base64%%%", seq(5), "unknown", raw=True),
])
print("wrote voicemail-ctr.json and mixed-batch.json")
