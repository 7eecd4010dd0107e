//! Packing: transcript messages into Create Transcripts in Bulk requests (at most 5 voice calls x
//! 5 messages, Implementation Guide ch. 3), and unsent work into retry invocations under the payload limit.

use scv_shared::scrt::{BULK_MAX_CALLS, BULK_MAX_MESSAGES};
use serde_json::Value;

use crate::work::{ContactWork, Work};

/// Messages `start..start + len` of contact number `contact`: one entry of a bulk request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    pub contact: usize,
    pub start: usize,
    pub len: usize,
}

/// Packs contacts with `counts[i]` messages each into as few bulk requests as possible. A contact has
/// at most one entry (of at most 5 messages) per request and its chunks go out in order, one request
/// after another, so its chronological order holds across requests.
///
/// Each request takes the next chunk of the (at most 5) contacts with the most chunks left, first
/// seen first on ties: highest-level-first scheduling of unit-time chains, which needs exactly
/// `max(longest contact, ceil(all chunks / 5))` requests, the lower bound.
pub fn pack_bulk(counts: &[usize]) -> Vec<Vec<Chunk>> {
    let mut next: Vec<usize> = vec![0; counts.len()];
    let chunks_left = |contact: usize, next: &[usize]| (counts[contact] - next[contact]).div_ceil(BULK_MAX_MESSAGES);
    let mut requests = Vec::new();
    loop {
        let mut candidates: Vec<usize> = (0..counts.len()).filter(|&c| next[c] < counts[c]).collect();
        if candidates.is_empty() {
            return requests;
        }
        candidates.sort_by_key(|&c| (std::cmp::Reverse(chunks_left(c, &next)), c));
        let mut request: Vec<Chunk> = candidates
            .into_iter()
            .take(BULK_MAX_CALLS)
            .map(|contact| {
                let start = next[contact];
                let len = (counts[contact] - start).min(BULK_MAX_MESSAGES);
                Chunk { contact, start, len }
            })
            .collect();
        request.sort_by_key(|c| c.contact);
        for chunk in &request {
            next[chunk.contact] += chunk.len;
        }
        requests.push(request);
    }
}

/// The fewest requests any packing needs: every contact needs `ceil(n / 5)` entries, one per request.
pub fn lower_bound(counts: &[usize]) -> usize {
    let chunks: Vec<usize> = counts.iter().map(|n| n.div_ceil(BULK_MAX_MESSAGES)).collect();
    let longest = chunks.iter().copied().max().unwrap_or(0);
    longest.max(chunks.iter().sum::<usize>().div_ceil(BULK_MAX_CALLS))
}

/// Splits `work` into payloads (`wrap` builds one from a part) of at most `limit` bytes. A contact's
/// work stays in one payload unless it alone is too large; then it is split in order. A single item
/// larger than the limit still goes out alone (the invoke will say why it failed).
pub fn split_work(work: &Work, limit: usize, wrap: impl Fn(&Work) -> Value) -> Vec<Value> {
    let size = |w: &Work| serde_json::to_vec(&wrap(w)).map_or(usize::MAX, |b| b.len());
    let mut payloads = Vec::new();
    let mut current = Work::default();
    for contact in &work.contacts {
        let mut candidate = current.clone();
        candidate.contacts.push(contact.clone());
        if size(&candidate) <= limit {
            current = candidate;
            continue;
        }
        if !current.contacts.is_empty() {
            payloads.push(wrap(&current));
        }
        let alone = Work { contacts: vec![contact.clone()] };
        if size(&alone) <= limit {
            current = alone;
            continue;
        }
        // One contact over the limit: its messages, then its events, in order.
        let mut piece = ContactWork { contact_id: contact.contact_id.clone(), ..ContactWork::default() };
        let items = contact.messages.iter().map(Item::Message).chain(contact.events.iter().map(Item::Event));
        for item in items {
            let mut grown = piece.clone();
            item.push(&mut grown);
            let is_first = piece.messages.is_empty() && piece.events.is_empty();
            if is_first || size(&Work { contacts: vec![grown.clone()] }) <= limit {
                piece = grown;
            } else {
                payloads.push(wrap(&Work { contacts: vec![piece] }));
                piece = ContactWork { contact_id: contact.contact_id.clone(), ..ContactWork::default() };
                item.push(&mut piece);
            }
        }
        current = Work { contacts: vec![piece] };
    }
    if !current.contacts.is_empty() {
        payloads.push(wrap(&current));
    }
    payloads
}

enum Item<'a> {
    Message(&'a scv_shared::scrt::TranscriptMessage),
    Event(&'a scv_shared::scrt::ConversationEvent),
}

impl Item<'_> {
    fn push(&self, contact: &mut ContactWork) {
        match self {
            Item::Message(m) => contact.messages.push((*m).clone()),
            Item::Event(e) => contact.events.push((*e).clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scv_shared::scrt::TranscriptMessage;
    use serde_json::json;

    /// Every message once, per contact in order, and every request valid.
    fn check(counts: &[usize], requests: &[Vec<Chunk>]) {
        let mut next = vec![0; counts.len()];
        for request in requests {
            assert!(!request.is_empty() && request.len() <= BULK_MAX_CALLS, "{request:?}");
            let mut contacts: Vec<usize> = request.iter().map(|c| c.contact).collect();
            contacts.dedup();
            assert_eq!(contacts.len(), request.len(), "one entry per contact per request: {request:?}");
            for chunk in request {
                assert!(chunk.len >= 1 && chunk.len <= BULK_MAX_MESSAGES);
                assert_eq!(chunk.start, next[chunk.contact], "in order");
                next[chunk.contact] += chunk.len;
            }
        }
        assert_eq!(next, counts);
    }

    #[test]
    fn packing_is_minimal_valid_and_ordered() {
        let cases: Vec<(&[usize], usize)> = vec![
            (&[12, 12, 12], 3),
            (&[1], 1),
            (&[5, 5, 5, 5, 5], 1),
            (&[5, 5, 5, 5, 5, 1], 2),
            (&[6, 1, 1, 1, 1], 2),
            (&[25], 5),
            (&[26, 1], 6),
            (&[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 3),
            (&[40, 4, 4, 4, 4, 4, 4], 8),
            (&[7, 6, 6, 6, 6, 6, 5, 5], 3),
            (&[], 0),
        ];
        for (counts, expected) in cases {
            let requests = pack_bulk(counts);
            check(counts, &requests);
            assert_eq!(requests.len(), expected, "{counts:?}");
            assert_eq!(requests.len(), lower_bound(counts), "{counts:?} reaches the lower bound");
        }
    }

    #[test]
    fn three_contacts_of_twelve_need_three_requests_of_five_messages_each_contact() {
        let requests = pack_bulk(&[12, 12, 12]);
        let shape: Vec<Vec<(usize, usize, usize)>> =
            requests.iter().map(|r| r.iter().map(|c| (c.contact, c.start, c.len)).collect()).collect();
        assert_eq!(
            shape,
            vec![
                vec![(0, 0, 5), (1, 0, 5), (2, 0, 5)],
                vec![(0, 5, 5), (1, 5, 5), (2, 5, 5)],
                vec![(0, 10, 2), (1, 10, 2), (2, 10, 2)],
            ]
        );
    }

    #[test]
    fn packing_many_shapes_always_reaches_the_bound() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..500 {
            let counts: Vec<usize> = (0..rng.usize(1..12)).map(|_| rng.usize(1..30)).collect();
            let requests = pack_bulk(&counts);
            check(&counts, &requests);
            assert_eq!(requests.len(), lower_bound(&counts), "{counts:?}");
        }
    }

    fn message(i: usize, text_len: usize) -> TranscriptMessage {
        TranscriptMessage {
            participant_id: "cEND_USER".into(),
            message_id: format!("m{i}"),
            start_time: i as i64,
            end_time: i as i64,
            content: "x".repeat(text_len),
            sender_type: "END_USER".into(),
        }
    }

    #[test]
    fn retry_work_splits_under_the_limit_keeping_contacts_together() {
        let contact = |id: &str, n: usize, text: usize| ContactWork {
            contact_id: id.into(),
            messages: (0..n).map(|i| message(i, text)).collect(),
            events: Vec::new(),
        };
        let work = Work { contacts: vec![contact("a", 3, 100), contact("b", 3, 100), contact("c", 40, 100)] };
        let wrap = |w: &Work| json!({"w": w});
        let limit = 2_500;
        let parts = split_work(&work, limit, wrap);
        let mut seen: Vec<(String, String)> = Vec::new();
        for part in &parts {
            assert!(serde_json::to_vec(part).unwrap().len() <= limit, "{part}");
            let w: Work = serde_json::from_value(part["w"].clone()).unwrap();
            for c in w.contacts {
                seen.extend(c.messages.into_iter().map(|m| (c.contact_id.clone(), m.message_id)));
            }
        }
        let expected: Vec<(String, String)> = work
            .contacts
            .iter()
            .flat_map(|c| c.messages.iter().map(|m| (c.contact_id.clone(), m.message_id.clone())))
            .collect();
        assert_eq!(seen, expected, "everything once, in order");
        let first: Work = serde_json::from_value(parts[0]["w"].clone()).unwrap();
        assert_eq!(first.contact_list(), "a,b", "small contacts share a payload");
        assert!(parts.len() > 2, "the large contact was split");
        assert_eq!(split_work(&work, usize::MAX, wrap).len(), 1);
    }
}
