//! In-process figures for `make bench` (read back by `local_stack::bench`): JWT signing with the cached
//! key, CTR mapping per record, voicemail WAV extraction per MB of Matroska. Run with
//! `cargo bench -p scv-shared --bench hot_paths`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is the failure message

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scv_shared::ctr::{Ctr, to_voice_call_fields};
use scv_shared::jwt::{Claims, sign};
use scv_shared::keys::parse_private_key;
use scv_shared::kinesis::decode_data;
use scv_shared::matroska::{AudioExtractor, FragmentNumber, Progress};
use scv_shared::wav::{PcmFormat, encode};
use serde_json::Value;
use sf_emulator::keys::TestKeyPair;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One RS256 token with the key as the functions cache it (parsed once at the first use).
fn jwt(c: &mut Criterion) {
    let keys = TestKeyPair::generate().expect("a key pair");
    let key = parse_private_key(&keys.private_pkcs1_pem, "bench-key").expect("a parsed key");
    let mut group = c.benchmark_group("jwt");
    group.throughput(Throughput::Elements(1));
    group.bench_function("sign_scrt_token_cached_key", |b| {
        b.iter(|| {
            let claims = Claims::scrt("00DXX0000000001", "ACME_CC", 1_795_252_560);
            sign(black_box(&claims), key.encoding_key()).expect("signed")
        });
    });
    // What signing cost before the parsed key pair was kept: jsonwebtoken::encode parses the DER
    // key on every token (issue 18).
    let encoding = key.encoding_key().encoding_key().clone();
    group.bench_function("sign_scrt_token_reparsed_key", |b| {
        b.iter(|| {
            let claims = Claims::scrt("00DXX0000000001", "ACME_CC", 1_795_252_560);
            let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            jsonwebtoken::encode(&header, black_box(&claims), &encoding).expect("signed")
        });
    });
    group.finish();
}

/// The CTRs of `events/ctr-data-sync/batch-100.json`: the raw Kinesis data and the parsed records.
fn ctr_batch() -> (Vec<String>, Vec<Ctr>) {
    let batch = read_json(workspace().join("events/ctr-data-sync/batch-100.json"));
    let data: Vec<String> = batch["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .map(|r| r["kinesis"]["data"].as_str().expect("data").to_string())
        .collect();
    let ctrs = data
        .iter()
        .map(|d| Ctr::from_value(serde_json::from_str(&decode_data(d).expect("base64")).expect("JSON")).expect("a CTR"))
        .collect();
    (data, ctrs)
}

/// The Update a Voice Call Record fields of 100 CTRs; and the same from the raw Kinesis data (decode,
/// parse, map).
fn ctr_mapping(c: &mut Criterion) {
    let (data, ctrs) = ctr_batch();
    let mut group = c.benchmark_group("ctr_mapping");
    group.throughput(Throughput::Elements(ctrs.len() as u64));
    group.bench_function("to_voice_call_fields_100", |b| {
        b.iter(|| ctrs.iter().map(|ctr| to_voice_call_fields(black_box(ctr)).len()).sum::<usize>());
    });
    group.bench_function("decode_parse_map_100", |b| {
        b.iter(|| {
            data.iter()
                .map(|d| {
                    let text = decode_data(black_box(d)).expect("base64");
                    let ctr = Ctr::from_value(serde_json::from_str(&text).expect("JSON")).expect("a CTR");
                    to_voice_call_fields(&ctr).len()
                })
                .sum::<usize>()
        });
    });
    group.finish();
}

/// The customer's audio of the voicemail fixture's fragments, as WAV, from the GetMedia bytes fed in
/// 16 KiB pieces (as they arrive from the network).
fn voicemail(c: &mut Criterion) {
    let dir = workspace().join("tests/fixtures/voicemail");
    let mkv = std::fs::read(dir.join("kvs-stream.mkv")).expect("the Matroska fixture");
    let manifest = read_json(dir.join("kvs-stream.json"));
    let start = FragmentNumber::parse(manifest["fragmentStartNumber"].as_str().expect("start")).expect("start");
    let stop = FragmentNumber::parse(manifest["fragmentStopNumber"].as_str().expect("stop")).expect("stop");
    let contact = manifest["contactId"].as_str().expect("contactId").to_string();
    // Returns the WAV and how many bytes of Matroska were read to produce it (the extractor stops at the
    // end of the voicemail's last fragment: the rest of the stream is never read).
    let extract = |bytes: &[u8]| {
        let mut extractor = AudioExtractor::new(start.clone(), stop.clone(), Some(&contact));
        for piece in bytes.chunks(16 * 1024) {
            if extractor.push(piece).expect("readable") == Progress::Done {
                break;
            }
        }
        let read = extractor.position();
        let audio = extractor.finish().expect("complete");
        (encode(PcmFormat::TELEPHONY, &audio.pcm).expect("WAV"), read)
    };
    let (wav, read) = extract(&mkv);
    assert!(wav.len() > 44, "the fixture yields audio");
    let mut group = c.benchmark_group("voicemail");
    group.throughput(Throughput::Bytes(read));
    group.bench_function("extract_wav_from_mkv", |b| b.iter(|| extract(black_box(&mkv)).0.len()));
    group.finish();
}

criterion_group!(benches, jwt, ctr_mapping, voicemail);
criterion_main!(benches);
