//! The LMS the harness plays: it signs chat tickets as the IbalXBlock does (RS256 with its own key, named
//! by `kid`; the claims of docs/protocol.md) and every gateway the harness starts trusts that key. A ticket
//! signs its user in once (LMS sign-in); afterwards each socket presents a ticket for the block it chats
//! in, and the block is what puts sockets in one room.
//!
//! Tickets live five minutes, so each scenario mints its own right before it connects, during setup. One
//! ticket per (user, block) serves every socket of that user in that block (the socket path does not spend
//! tickets), so thousands of sockets cost one signature per user and room, not one each.

use std::collections::HashMap;
use std::sync::Arc;

use ibal_test_kit::lms::Ticket;

/// What one chat socket authenticates with: its user's access token and a ticket for the block it chats in.
#[derive(Clone)]
pub struct Seat {
    pub token: Arc<str>,
    pub ticket: Arc<str>,
}

/// The LMS root URL, the tickets' `iss`.
const ISSUER: &str = "https://lms.bench.example";
const KID: &str = "bench-lms-key-1";

/// The kit's LMS (ibal_test_kit::lms), its one key for the run, with the bench's users.
pub struct Lms(ibal_test_kit::lms::Lms);

/// A user of the LMS (the `n`th of the scenario), signed in at one gateway.
pub struct Learner {
    pub n: usize,
    pub token: Arc<str>,
}

impl Lms {
    /// A fresh RSA-2048 key for the run.
    pub fn new() -> Result<Self, String> {
        ibal_test_kit::lms::Lms::new(ISSUER, KID).map(Self)
    }

    /// How many tickets were signed so far.
    pub fn minted(&self) -> u64 {
        self.0.minted()
    }

    /// What a gateway needs to trust this LMS's tickets.
    pub fn gateway_env(&self) -> [(&'static str, String); 2] {
        self.0.gateway_vars()
    }

    /// A learner's ticket for `block` of `course`, for the gateway whose public origin is `audience`.
    pub fn ticket(&self, audience: &str, user: usize, course: &str, block: &str) -> Result<String, String> {
        let (sub, username) = (format!("bench-lms-user-{user}"), format!("bench{user}"));
        self.0.ticket(&Ticket { audience, sub: &sub, username: &username, course, block, title: "IBAL bench" })
    }

    /// One seat per socket: socket i is `learners[i % learners.len()]` chatting in `blocks[i]` of `course`.
    /// Each (learner, block) is signed once, the signatures spread over the cores (nothing is measured
    /// meanwhile).
    pub fn seats(
        &self,
        audience: &str,
        learners: &[Learner],
        course: &str,
        blocks: &[String],
    ) -> Result<Vec<Seat>, String> {
        if learners.is_empty() {
            return Err("no learner to seat".into());
        }
        let learner_of = |i: usize| &learners[i % learners.len()];
        let mut index: HashMap<(usize, &str), usize> = HashMap::new();
        let mut wanted: Vec<(usize, &str)> = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let key = (learner_of(i).n, block.as_str());
            index.entry(key).or_insert_with(|| {
                wanted.push(key);
                wanted.len() - 1
            });
        }
        let tickets = self.sign_all(audience, course, &wanted)?;
        Ok(blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let learner = learner_of(i);
                let ticket = &tickets[index[&(learner.n, block.as_str())]];
                Seat { token: learner.token.clone(), ticket: ticket.clone() }
            })
            .collect())
    }

    /// The tickets for `wanted` (user, block) pairs, in order, one thread per core.
    fn sign_all(&self, audience: &str, course: &str, wanted: &[(usize, &str)]) -> Result<Vec<Arc<str>>, String> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = wanted.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let parts: Vec<_> = wanted
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .map(|&(user, block)| self.ticket(audience, user, course, block).map(Arc::from))
                            .collect::<Result<Vec<Arc<str>>, String>>()
                    })
                })
                .collect();
            let mut tickets = Vec::with_capacity(wanted.len());
            for part in parts {
                tickets.extend(part.join().map_err(|_| "a signing thread panicked".to_owned())??);
            }
            Ok(tickets)
        })
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use ibal_test_kit::lms::TICKET_LIFETIME_SECS;
    use serde_json::Value;

    use super::*;

    fn claims(ticket: &str) -> Value {
        let payload = ticket.split('.').nth(1).unwrap_or_default();
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap_or_default();
        serde_json::from_slice(&json).unwrap_or(Value::Null)
    }

    #[test]
    fn seats_share_one_ticket_per_user_and_block() {
        let lms = Lms::new().expect("key");
        let learners: Vec<Learner> = (0..5).map(|n| Learner { n, token: format!("token-{n}").into() }).collect();
        let blocks: Vec<String> = (0..20).map(|i| format!("room-{}", i / 10)).collect();
        let seats = lms.seats("http://127.0.0.1:1", &learners, "course-v1:x+y+z", &blocks).expect("seats");
        assert_eq!(seats.len(), 20);
        assert_eq!(lms.minted(), 10, "two rooms of five users");
        assert!(Arc::ptr_eq(&seats[0].ticket, &seats[5].ticket), "the same user in the same room");
        assert!(!Arc::ptr_eq(&seats[0].ticket, &seats[10].ticket), "the same user in another room");
        assert_eq!(&*seats[7].token, "token-2");
        let ticket = claims(&seats[17].ticket);
        assert_eq!(ticket["sub"], "bench-lms-user-2");
        assert_eq!(ticket["usage_id"], "room-1");
        assert_eq!(ticket["aud"], "http://127.0.0.1:1");
        assert_eq!(ticket["exp"].as_u64().unwrap_or(0) - ticket["iat"].as_u64().unwrap_or(0), TICKET_LIFETIME_SECS);
    }
}
