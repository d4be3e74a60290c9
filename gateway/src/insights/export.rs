//! `GET /instructor/{course_id}/summary.csv` and `…/messages.csv`: the page's period as CSV, streamed
//! row by row (a course with 100,000 messages is never held in memory). Learners appear by pseudonym
//! unless the operator shows names (`INSIGHTS_SHOW_NAMES`); message texts only where the operator
//! allows transcripts (`INSIGHTS_TRANSCRIPTS`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::WithRejection;
use futures_util::StreamExt;
use tower_sessions::Session;

use super::InsightsState;
use super::access::viewer;
use super::figures::{Tally, day_of};
use super::page::Period;
use crate::crypto::pseudonym;
use crate::domain::rfc3339_ms;
use crate::store::{CourseMessageRow, InsightScope};
use crate::web::error::PageError;

/// One CSV field: quoted when it must be, and never read as a formula by a spreadsheet (a leading
/// `=`, `+`, `-`, `@`, tab or carriage return gets a `'` in front).
fn field(value: &str) -> String {
    let guarded =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if guarded.contains([',', '"', '\n', '\r']) || guarded.starts_with(' ') || guarded.ends_with(' ') {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn line(fields: &[&str]) -> String {
    let mut out = fields.iter().map(|f| field(f)).collect::<Vec<_>>().join(",");
    out.push_str("\r\n");
    out
}

fn csv(name: &str, course_id: &str, body: Body) -> Response {
    let safe: String = course_id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{safe}-{name}.csv\"")),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn scope_of(
    state: &InsightsState,
    session: &Session,
    course_id: &str,
    period: &Period,
) -> Result<(InsightScope, Vec<String>), PageError> {
    let who = viewer(session, &state.db, course_id).await?;
    let (from_ms, to_ms, days) = period.bounds()?;
    Ok((InsightScope { course: who.course, from_ms, to_ms, block: period.block() }, days))
}

/// One row per day: `date,messages,active_learners,assistant_replies`.
pub async fn summary(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Query(period), _): WithRejection<Query<Period>, PageError>,
) -> Result<Response, PageError> {
    let (scope, days) = scope_of(&state, &session, &course_id, &period).await?;
    let mut tally = Tally::default();
    let mut rows = state.db.course_messages(&scope);
    while let Some(row) = rows.next().await {
        tally.add(&row?);
    }
    let figures = tally.finish(&days, 0.0);
    let mut out = line(&["date", "messages", "active_learners", "assistant_replies"]);
    for d in &figures.days {
        out.push_str(&line(&[&d.date, &d.messages.to_string(), &d.learners.to_string(), &d.replies.to_string()]));
    }
    Ok(csv("summary", &course_id, Body::from(out)))
}

/// One row per message of the period, oldest first.
pub async fn messages(
    State(state): State<InsightsState>,
    session: Session,
    Path(course_id): Path<String>,
    WithRejection(Query(period), _): WithRejection<Query<Period>, PageError>,
) -> Result<Response, PageError> {
    let (scope, _) = scope_of(&state, &session, &course_id, &period).await?;
    let config = state.config.clone();
    let secret = state.secret_key.clone();
    let mut header = vec!["time", "day", "block_id", "place", "sender", "sender_role", "role", "status", "characters"];
    header.extend(["first_token_ms", "reply_ms", "tokens", "hidden"]);
    if config.transcripts {
        header.push("text");
    }
    let head = futures_util::stream::once(async move { Ok::<_, std::io::Error>(line(&header)) });
    let rows = state.db.course_messages(&scope).map(move |row| match row {
        Ok(m) => Ok(message_line(&m, &secret, config.show_names, config.transcripts)),
        // Headers are sent already: the download ends short, and the log says why.
        Err(e) => {
            tracing::error!(error = %e, "the messages export failed midway");
            Err(std::io::Error::other("the export failed midway"))
        }
    });
    Ok(csv("messages", &course_id, Body::from_stream(head.chain(rows))))
}

fn message_line(m: &CourseMessageRow, secret: &secrecy::SecretString, names: bool, transcripts: bool) -> String {
    let sender = match (&m.sender_id, m.role.as_str()) {
        (_, "assistant") => "assistant".to_owned(),
        (Some(_), _) if names => m.sender_name.clone(),
        (Some(id), _) => pseudonym(secret, id),
        (None, _) => m.sender_name.clone(),
    };
    let place = if m.owner == crate::domain::ROOM_OWNER { "room" } else { "assistant" };
    let characters = m.content.chars().count().to_string();
    let first_token_ms = m.first_token_ms.map(|v| v.to_string()).unwrap_or_default();
    let reply_ms = m.latency_ms.map(|v| v.to_string()).unwrap_or_default();
    let tokens = m.tokens.map(|v| v.to_string()).unwrap_or_default();
    let (time, day) = (rfc3339_ms(m.created_at), day_of(m.created_at));
    let mut fields = vec![
        time.as_str(),
        day.as_str(),
        m.block_id.as_str(),
        place,
        sender.as_str(),
        m.sender_role.as_str(),
        m.role.as_str(),
        m.status.as_str(),
        characters.as_str(),
        first_token_ms.as_str(),
        reply_ms.as_str(),
        tokens.as_str(),
        if m.hidden_at.is_some() { "yes" } else { "" },
    ];
    if transcripts {
        fields.push(m.content.as_str());
    }
    line(&fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_never_formulas() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\"\nthen"), "\"say \"\"hi\"\"\nthen\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-1"), "'-1");
        assert_eq!(line(&["a", "b c"]), "a,b c\r\n");
    }
}
