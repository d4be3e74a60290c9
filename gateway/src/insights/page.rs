//! `GET /instructor/{course_id}`: the course chat insights page — figures for a period (and
//! optionally one block), a chart of each day with its table beside it, the lowest-rated replies and
//! the most asked terms. Server-rendered: no script, no CDN; the chart is SVG drawn here.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::WithRejection;
use futures_util::StreamExt;
use minijinja::context;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use super::InsightsState;
use super::access::viewer;
use super::figures::{Tally, day_of};
use crate::domain::now_ms;
use crate::store::InsightScope;
use crate::web::error::PageError;
use crate::web::security::{CspNonce, Framable};

const DAY_MS: i64 = 86_400_000;
/// The default period, and the longest one.
const DEFAULT_DAYS: i64 = 30;
const MAX_DAYS: i64 = 366;
/// The chart's drawing height, in SVG units.
const CHART_HEIGHT: f64 = 120.0;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD&block=<usage id>`: a period of whole UTC days, both included.
#[derive(Debug, Default, Deserialize)]
pub struct Period {
    from: Option<String>,
    to: Option<String>,
    block: Option<String>,
}

fn bad_period(message: &'static str) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "bad_period", "This period cannot be shown", message)
}

fn parse_day(value: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(value, &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

impl Period {
    /// The scope's bounds in ms, `[from, to + 1 day)`, and every day between.
    pub fn bounds(&self) -> Result<(i64, i64, Vec<String>), PageError> {
        let today = now_ms().div_euclid(DAY_MS) * DAY_MS;
        let to = match self.to.as_deref().filter(|s| !s.is_empty()) {
            Some(day) => parse_day(day).ok_or_else(|| bad_period("`to` must be a date, YYYY-MM-DD."))?,
            None => today,
        };
        let from = match self.from.as_deref().filter(|s| !s.is_empty()) {
            Some(day) => parse_day(day).ok_or_else(|| bad_period("`from` must be a date, YYYY-MM-DD."))?,
            None => to - (DEFAULT_DAYS - 1) * DAY_MS,
        };
        if from > to {
            return Err(bad_period("The period ends before it starts."));
        }
        if (to - from) / DAY_MS >= MAX_DAYS {
            return Err(bad_period("Choose a period of at most 366 days."));
        }
        let days = (0..=(to - from) / DAY_MS).map(|n| day_of(from + n * DAY_MS)).collect();
        Ok((from, to + DAY_MS, days))
    }

    pub fn block(&self) -> Option<String> {
        self.block.clone().filter(|b| !b.is_empty())
    }
}

/// One bar of the chart.
#[derive(Debug, Serialize)]
struct Bar {
    x: f64,
    y: f64,
    height: f64,
    label: String,
}

pub async fn page(
    State(state): State<InsightsState>,
    session: Session,
    nonce: CspNonce,
    Path(course_id): Path<String>,
    WithRejection(Query(period), _): WithRejection<Query<Period>, PageError>,
) -> Result<Response, PageError> {
    let who = viewer(&session, &state.db, &course_id).await?;
    let (from_ms, to_ms, all_days) = period.bounds()?;
    let scope = InsightScope { course: who.course.clone(), from_ms, to_ms, block: period.block() };
    let mut tally = Tally::default();
    let mut rows = state.db.course_messages(&scope);
    while let Some(row) = rows.next().await {
        tally.add(&row?);
    }
    let figures = tally.finish(&all_days, state.config.price_per_1k_tokens);
    let ratings = state.db.course_ratings(&scope).await?;
    let lowest = state.db.lowest_rated(&scope, 10).await?;
    let thumbs_up: i64 = ratings.iter().filter(|(r, _)| *r >= 4).map(|(_, n)| n).sum();
    let thumbs_down: i64 = ratings.iter().filter(|(r, _)| *r <= 2).map(|(_, n)| n).sum();
    let moderation = super::moderate::panel(&state, &session, &who, scope.block.as_deref()).await?;

    let peak = figures.days.iter().map(|d| d.messages).max().unwrap_or(0).max(1);
    #[allow(clippy::cast_precision_loss)]
    let bars: Vec<Bar> = figures
        .days
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let height = d.messages as f64 / peak as f64 * CHART_HEIGHT;
            Bar { x: i as f64 * 12.0, y: CHART_HEIGHT - height, height, label: format!("{}: {}", d.date, d.messages) }
        })
        .collect();
    let lowest: Vec<_> = lowest
        .iter()
        .map(|l| context! { rating => l.rating, comment => &l.comment, reply => &l.reply, question => &l.question })
        .collect();
    let html = state.templates.render(
        "instructor/dashboard.html",
        context! {
            csp_nonce => nonce.as_str(),
            course_id => &who.course.course_id,
            from => all_days.first(),
            to => all_days.last(),
            block => scope.block,
            figures => minijinja::value::Serde(&figures),
            bars => minijinja::value::Serde(&bars),
            chart_width => bars.len() * 12,
            chart_height => CHART_HEIGHT,
            peak => peak,
            ratings => ratings,
            thumbs_up => thumbs_up,
            thumbs_down => thumbs_down,
            lowest => lowest,
            operator => who.operator,
            viewer_name => &who.user.username,
            transcripts => state.config.transcripts,
            names => state.config.show_names,
            moderation => moderation,
        },
    )?;
    // Framable by the LMS and the LTI platforms the operator allows (FRAME_ANCESTORS).
    let mut response = Html(html).into_response();
    response.extensions_mut().insert(Framable::default());
    Ok(response)
}
