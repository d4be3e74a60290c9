//! Retirement: everything the gateway holds on one person, deleted in one transaction, with the
//! count of rows per table. Running it again finds nothing and removes nothing.

use std::collections::BTreeMap;

use crate::domain::ROOM_OWNER;
use crate::sql;
use crate::store::{Db, DbResult, placeholders};

/// Who is retired: the users with an identity from one of `issuers` (the Open edX doors) whose
/// username is `username`, or whose subject is the LMS user id or the username-derived subject.
#[derive(Debug, Clone)]
pub struct Retiree<'a> {
    pub issuers: &'a [String],
    pub username: &'a str,
    pub lms_user_id: Option<i64>,
}

/// The text a redacted room message keeps.
pub const REDACTED: &str = "[deleted]";

/// The tables a retirement reports on, in the order they are emptied.
pub const RETIREMENT_TABLES: [&str; 11] = [
    "feedback",
    "messages",
    "messages_redacted",
    "conversations",
    "refresh_tokens",
    "logins",
    "memberships",
    "disclosures",
    "sessions",
    "identities",
    "users",
];

impl Db {
    /// Deletes the retiree's conversations (with their messages and any feedback on them), feedback,
    /// room messages (or, with `redact_room_messages`, blanks them to "[deleted]" with no author),
    /// logins and refresh tokens, course memberships, AI disclosure acceptances, server sessions, identities and user rows.
    /// One transaction: all of it or none.
    pub async fn retire(&self, who: &Retiree<'_>, redact_room_messages: bool) -> DbResult<BTreeMap<&'static str, u64>> {
        let mut counts: BTreeMap<&'static str, u64> = RETIREMENT_TABLES.iter().map(|t| (*t, 0)).collect();
        if who.issuers.is_empty() {
            return Ok(counts);
        }
        let mut tx = self.pool().begin().await?;
        let subjects = [
            who.lms_user_id.map_or_else(|| format!("username:{}", who.username), |id| id.to_string()),
            format!("username:{}", who.username),
        ];
        let find = format!(
            "SELECT DISTINCT i.user_id FROM identities i JOIN users u ON u.id = i.user_id WHERE i.issuer IN ({}) AND (u.username = ? OR i.subject = ? OR i.subject = ?)",
            placeholders(who.issuers.len())
        );
        let mut query = sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(self.sql_dynamic(find)));
        for issuer in who.issuers {
            query = query.bind(issuer);
        }
        let users: Vec<String> =
            query.bind(who.username).bind(&subjects[0]).bind(&subjects[1]).fetch_all(&mut *tx).await?;
        if users.is_empty() {
            return Ok(counts);
        }
        self.erase(&mut tx, &users, redact_room_messages, &mut counts).await?;
        tx.commit().await?;
        self.revoked();
        Ok(counts)
    }

    /// Deletes one account and everything of it, as [`Db::retire`] does for a retired learner: the
    /// learner's own erasure of a local account.
    pub async fn erase_account(
        &self,
        user_id: &str,
        redact_room_messages: bool,
    ) -> DbResult<BTreeMap<&'static str, u64>> {
        let mut counts: BTreeMap<&'static str, u64> = RETIREMENT_TABLES.iter().map(|t| (*t, 0)).collect();
        let mut tx = self.pool().begin().await?;
        self.erase(&mut tx, &[user_id.to_owned()], redact_room_messages, &mut counts).await?;
        tx.commit().await?;
        self.revoked();
        Ok(counts)
    }

    /// The deletions of a retirement, for `users`, inside the caller's transaction.
    async fn erase(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        users: &[String],
        redact_room_messages: bool,
        counts: &mut BTreeMap<&'static str, u64>,
    ) -> DbResult<()> {
        let ids = placeholders(users.len());
        let own_conversations =
            format!("SELECT id FROM conversations WHERE owner <> '{ROOM_OWNER}' AND user_id IN ({ids})");
        let room_messages = if redact_room_messages { "1 = 0".to_owned() } else { format!("sender_id IN ({ids})") };
        let mut steps: Vec<(&'static str, String, usize)> = vec![
            (
                "feedback",
                format!(
                    "DELETE FROM message_feedback WHERE user_id IN ({ids}) OR message_id IN (SELECT id FROM messages WHERE conversation_id IN ({own_conversations}) OR {room_messages})"
                ),
                if redact_room_messages { 2 } else { 3 },
            ),
            ("messages", format!("DELETE FROM messages WHERE conversation_id IN ({own_conversations})"), 1),
        ];
        if redact_room_messages {
            steps.push((
                "messages_redacted",
                format!(
                    "UPDATE messages SET content = '{REDACTED}', sender_name = '', sender_id = NULL, client_id = NULL WHERE sender_id IN ({ids})"
                ),
                1,
            ));
        } else {
            steps.push(("messages", format!("DELETE FROM messages WHERE sender_id IN ({ids})"), 1));
        }
        steps.extend([
            (
                "conversations",
                format!("DELETE FROM conversations WHERE owner <> '{ROOM_OWNER}' AND user_id IN ({ids})"),
                1,
            ),
            ("refresh_tokens", format!("DELETE FROM refresh_tokens WHERE user_id IN ({ids})"), 1),
            ("logins", format!("DELETE FROM refresh_families WHERE user_id IN ({ids})"), 1),
            ("memberships", format!("DELETE FROM course_memberships WHERE user_id IN ({ids})"), 1),
            ("disclosures", format!("DELETE FROM disclosure_acceptances WHERE user_id IN ({ids})"), 1),
            ("identities", format!("DELETE FROM identities WHERE user_id IN ({ids})"), 1),
            ("users", format!("DELETE FROM users WHERE id IN ({ids})"), 1),
        ]);
        for (table, statement, id_lists) in steps {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(statement)));
            for _ in 0..id_lists {
                for id in users {
                    query = query.bind(id);
                }
            }
            *counts.entry(table).or_default() += query.execute(&mut **tx).await?.rows_affected();
        }
        // Server sessions (browser sign-in state, authorization codes) hold the user id in their JSON.
        for id in users {
            let done = sqlx::query(sql!(self, "DELETE FROM sessions WHERE data LIKE ?"))
                .bind(format!("%\"{id}\"%"))
                .execute(&mut **tx)
                .await?;
            *counts.entry("sessions").or_default() += done.rows_affected();
        }
        Ok(())
    }
}
