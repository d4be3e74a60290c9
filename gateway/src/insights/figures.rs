//! The dashboard's figures, folded from a course's messages one at a time (a period of any size is
//! counted without holding its messages).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::search::terms;
use crate::store::CourseMessageRow;

/// The most frequent terms shown.
const TOP_TERMS: usize = 15;

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub messages: u64,
    pub learners: u64,
    pub replies: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct BlockFigures {
    pub block_id: String,
    pub messages: u64,
    pub learners: u64,
    pub replies: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Figures {
    pub days: Vec<Day>,
    /// People's messages (not the assistant's).
    pub messages: u64,
    /// Distinct people who wrote.
    pub learners: u64,
    pub conversations: u64,
    pub replies: u64,
    pub failed_replies: u64,
    /// Failed replies per reply, in percent (one decimal).
    pub error_rate: f64,
    /// Time to a reply's first token, in milliseconds (replies stored before it was recorded have none).
    pub first_token_ms_median: Option<i64>,
    pub first_token_ms_p90: Option<i64>,
    /// Time to a complete reply, in milliseconds.
    pub reply_ms_median: Option<i64>,
    pub reply_ms_p90: Option<i64>,
    pub tokens: i64,
    /// The tokens at the configured price; None without one.
    pub cost: Option<f64>,
    pub terms: Vec<(String, u64)>,
    pub blocks: Vec<BlockFigures>,
}

/// Counts as messages go by.
#[derive(Debug, Default)]
pub struct Tally {
    days: BTreeMap<String, (u64, HashSet<String>, u64)>,
    blocks: BTreeMap<String, (u64, HashSet<String>, u64)>,
    learners: HashSet<String>,
    conversations: HashSet<String>,
    messages: u64,
    replies: u64,
    failed: u64,
    latencies: Vec<i64>,
    first_tokens: Vec<i64>,
    tokens: i64,
    terms: HashMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, m: &CourseMessageRow) {
        let date = day_of(m.created_at);
        self.conversations.insert(m.conversation_id.clone());
        let day = self.days.entry(date).or_default();
        let block = self.blocks.entry(m.block_id.clone()).or_default();
        self.tokens += m.tokens.unwrap_or(0);
        match (m.role.as_str(), &m.sender_id) {
            ("assistant", _) => {
                self.replies += 1;
                day.2 += 1;
                block.2 += 1;
                if m.status == "failed" {
                    self.failed += 1;
                } else if let Some(ms) = m.latency_ms {
                    self.latencies.push(ms);
                }
                if let Some(ms) = m.first_token_ms {
                    self.first_tokens.push(ms);
                }
            }
            ("user", Some(sender)) => {
                self.messages += 1;
                day.0 += 1;
                block.0 += 1;
                day.1.insert(sender.clone());
                block.1.insert(sender.clone());
                self.learners.insert(sender.clone());
                // What course staff hid does not count among the course's questions.
                let text = if m.hidden_at.is_some() { "" } else { m.content.as_str() };
                let mut seen = HashSet::new();
                for term in terms::terms(text).filter(|t| t.chars().count() > 2) {
                    if seen.insert(term.clone()) {
                        *self.terms.entry(term).or_default() += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// The figures, with every day of `[from_day, to_day]` (zeros included) for the chart.
    pub fn finish(mut self, all_days: &[String], price_per_1k_tokens: f64) -> Figures {
        self.latencies.sort_unstable();
        self.first_tokens.sort_unstable();
        let mut terms: Vec<(String, u64)> = self.terms.into_iter().filter(|(_, n)| *n > 1).collect();
        terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        terms.truncate(TOP_TERMS);
        let days = all_days
            .iter()
            .map(|date| {
                let (messages, learners, replies) = self.days.remove(date).unwrap_or_default();
                Day { date: date.clone(), messages, learners: learners.len() as u64, replies }
            })
            .collect();
        let blocks = self
            .blocks
            .into_iter()
            .map(|(block_id, (messages, learners, replies))| BlockFigures {
                block_id,
                messages,
                learners: learners.len() as u64,
                replies,
            })
            .collect();
        #[allow(clippy::cast_precision_loss)]
        let error_rate =
            if self.replies == 0 { 0.0 } else { (self.failed as f64 * 1000.0 / self.replies as f64).round() / 10.0 };
        #[allow(clippy::cast_precision_loss)]
        let cost = (price_per_1k_tokens > 0.0).then(|| self.tokens as f64 / 1000.0 * price_per_1k_tokens);
        Figures {
            days,
            messages: self.messages,
            learners: self.learners.len() as u64,
            conversations: self.conversations.len() as u64,
            replies: self.replies,
            failed_replies: self.failed,
            error_rate,
            first_token_ms_median: percentile(&self.first_tokens, 50),
            first_token_ms_p90: percentile(&self.first_tokens, 90),
            reply_ms_median: percentile(&self.latencies, 50),
            reply_ms_p90: percentile(&self.latencies, 90),
            tokens: self.tokens,
            cost,
            terms,
            blocks,
        }
    }
}

/// The `p`th percentile of sorted values (nearest rank).
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// `YYYY-MM-DD` (UTC) of a Unix time in milliseconds.
pub fn day_of(ms: i64) -> String {
    let date = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map_or(time::Date::MIN, time::OffsetDateTime::date);
    format!("{:04}-{:02}-{:02}", date.year(), u8::from(date.month()), date.day())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sender: Option<&str>, role: &str, day: i64, content: &str) -> CourseMessageRow {
        CourseMessageRow {
            id: format!("m{day}{content}"),
            conversation_id: sender.map_or("c-room", |s| if s == "a" { "c-a" } else { "c-b" }).into(),
            block_id: "b1".into(),
            owner: "user".into(),
            sender_id: sender.map(str::to_owned),
            sender_name: sender.unwrap_or("assistant").into(),
            sender_role: String::new(),
            role: role.into(),
            status: if content == "fail" { "failed" } else { "complete" }.into(),
            content: content.into(),
            latency_ms: (role == "assistant").then_some(100 * day),
            first_token_ms: (role == "assistant").then_some(10 * day + 5),
            hidden_at: None,
            tokens: (role == "assistant").then_some(10),
            created_at: 1_767_225_600_000 + day * 86_400_000, // 2026-01-01 + day
        }
    }

    #[test]
    fn messages_learners_replies_and_terms_are_counted() {
        let mut tally = Tally::default();
        for r in [
            row(Some("a"), "user", 0, "What are enzymes?"),
            row(None, "assistant", 0, "Enzymes are proteins."),
            row(Some("b"), "user", 0, "How do enzymes work?"),
            row(None, "assistant", 1, "fail"),
            row(Some("a"), "user", 2, "Enzymes again"),
        ] {
            tally.add(&r);
        }
        let days: Vec<String> = ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"].map(String::from).to_vec();
        let f = tally.finish(&days, 0.5);
        assert_eq!((f.messages, f.learners, f.replies, f.failed_replies), (3, 2, 2, 1));
        assert!((f.error_rate - 50.0).abs() < f64::EPSILON);
        assert_eq!(f.days[0], Day { date: "2026-01-01".into(), messages: 2, learners: 2, replies: 1 });
        assert_eq!(f.days[3], Day { date: "2026-01-04".into(), messages: 0, learners: 0, replies: 0 });
        assert_eq!(f.terms, [("enzyme".to_owned(), 3)]);
        assert_eq!((f.reply_ms_median, f.reply_ms_p90), (Some(0), Some(0)));
        // A failed reply's first token counts: the learner waited for it all the same.
        assert_eq!((f.first_token_ms_median, f.first_token_ms_p90), (Some(5), Some(15)));
        assert_eq!(f.tokens, 20);
        assert_eq!(f.cost, Some(0.01));
        assert_eq!(f.blocks[0].messages, 3);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<i64> = (1..=10).collect();
        assert_eq!((percentile(&values, 50), percentile(&values, 90)), (Some(5), Some(9)));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(day_of(0), "1970-01-01");
    }
}
