//! The transcript script: what a session "recognises", and the `TranscriptEvent` of each result.

use serde_json::{Value, json};

use super::SentResult;

/// One utterance of a script: its text and where it lies in the audio (seconds from the start of the
/// session's audio).
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub text: String,
    pub start: f64,
    pub end: f64,
}

impl Utterance {
    pub fn new(text: impl Into<String>, start: f64, end: f64) -> Utterance {
        Utterance { text: text.into(), start, end }
    }
}

/// What a session "recognises": utterances in audio order, and how many partial results precede each
/// final one (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub utterances: Vec<Utterance>,
    pub partials: usize,
}

impl Script {
    /// A script with two partial results per utterance.
    pub fn new(utterances: Vec<Utterance>) -> Script {
        Script { utterances, partials: 2 }
    }

    pub fn with_partials(mut self, partials: usize) -> Script {
        self.partials = partials.max(1);
        self
    }
}

/// One planned result: an utterance's partial (`words` of its words, due at `due` seconds) or final.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub utterance: usize,
    pub due: f64,
    pub words: usize,
    pub is_final: bool,
}

pub(super) fn plan(script: &Script) -> Vec<Planned> {
    let mut planned = Vec::new();
    for (utterance, u) in script.utterances.iter().enumerate() {
        let total = u.text.split_whitespace().count().max(1);
        let partials = script.partials.max(1);
        for k in 1..=partials {
            let fraction = k as f64 / (partials + 1) as f64;
            let words = ((total as f64 * fraction).ceil() as usize).clamp(1, total);
            planned.push(Planned { utterance, due: u.start + (u.end - u.start) * fraction, words, is_final: false });
        }
        planned.push(Planned { utterance, due: u.end, words: total, is_final: true });
    }
    planned.sort_by(|a, b| a.due.total_cmp(&b.due).then(a.utterance.cmp(&b.utterance)));
    planned
}

pub(super) fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The `TranscriptEvent` JSON of one result. Word items are spread evenly over the utterance.
pub(super) fn transcript_event(u: &Utterance, p: &Planned, result_id: &str, medical: bool) -> (Value, SentResult) {
    let words: Vec<&str> = u.text.split_whitespace().collect();
    let per_word = (u.end - u.start) / words.len().max(1) as f64;
    let shown = &words[..p.words.min(words.len())];
    let transcript = shown.join(" ");
    let end_time = if p.is_final { u.end } else { p.due };
    let items: Vec<Value> = shown
        .iter()
        .enumerate()
        .map(|(i, word)| {
            let mut item = json!({
                "StartTime": round_ms(u.start + per_word * i as f64),
                "EndTime": round_ms(u.start + per_word * (i + 1) as f64),
                "Type": "pronunciation",
                "Content": word,
            });
            if p.is_final {
                item["Confidence"] = json!(1.0);
            }
            if !medical {
                item["VocabularyFilterMatch"] = json!(false);
                item["Stable"] = json!(p.is_final);
            }
            item
        })
        .collect();
    let mut alternative = json!({ "Transcript": transcript, "Items": items });
    if medical {
        alternative["Entities"] = json!([]);
    }
    let payload = json!({ "Transcript": { "Results": [{
        "ResultId": result_id,
        "StartTime": round_ms(u.start),
        "EndTime": round_ms(end_time),
        "IsPartial": !p.is_final,
        "Alternatives": [alternative],
        "ChannelId": "ch_0",
    }]}});
    let sent = SentResult {
        result_id: result_id.to_string(),
        transcript,
        is_partial: !p.is_final,
        start_time: round_ms(u.start),
        end_time: round_ms(end_time),
        audio_seconds: 0.0,
    };
    (payload, sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partials_precede_each_final_and_follow_the_audio() {
        let script =
            Script::new(vec![Utterance::new("one two three four", 1.0, 3.0), Utterance::new("five", 3.5, 4.0)]);
        let planned = plan(&script);
        let summary: Vec<(usize, f64, usize, bool)> =
            planned.iter().map(|p| (p.utterance, (p.due * 1000.0).round() / 1000.0, p.words, p.is_final)).collect();
        assert_eq!(
            summary,
            vec![
                (0, 1.667, 2, false),
                (0, 2.333, 3, false),
                (0, 3.0, 4, true),
                (1, 3.667, 1, false),
                (1, 3.833, 1, false),
                (1, 4.0, 1, true),
            ]
        );
    }
}
