//! `POST /instructor/enter`: the way in from the course. The chat block's staff view posts a fresh
//! chat ticket the LMS signed (`ticket`); an LTI launch with a staff role posts the staff pass the
//! gateway sealed for it (`pass`). Either opens that course's dashboard in a session of this browser,
//! once: each ticket and each pass enters one time only.

use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::WithRejection;
use serde::Deserialize;
use tower_sessions::Session;

use super::InsightsState;
use super::access::{COURSES, Entered, USER};
use crate::course::StaffPass;
use crate::domain::{CourseKey, CourseRole, User};
use crate::web::error::PageError;

#[derive(Debug, Deserialize)]
pub struct EnterForm {
    /// A chat ticket the LMS signed.
    #[serde(default)]
    ticket: Option<String>,
    /// A staff pass from an LTI launch.
    #[serde(default)]
    pass: Option<String>,
}

fn refused(message: &'static str) -> PageError {
    PageError::new(StatusCode::FORBIDDEN, "forbidden", "The insights cannot be opened", message)
}

pub async fn enter(
    State(state): State<InsightsState>,
    session: Session,
    WithRejection(Form(form), _): WithRejection<Form<EnterForm>, PageError>,
) -> Result<Response, PageError> {
    let (user, course) = match (form.ticket.as_deref(), form.pass.as_deref()) {
        (Some(ticket), None) => by_ticket(&state, ticket).await?,
        (None, Some(pass)) => by_pass(&state, pass).await?,
        _ => return Err(refused("Open the insights from the course: its chat block or its LTI link.")),
    };
    let internal = |e: tower_sessions::session::Error| PageError::internal(e.to_string());
    let same_user = session.get::<String>(USER).await.map_err(internal)?.as_deref() == Some(user.id.as_str());
    let mut entered: Vec<Entered> =
        if same_user { session.get(COURSES).await.map_err(internal)?.unwrap_or_default() } else { Vec::new() };
    let here = Entered { platform: course.platform.clone(), course_id: course.course_id.clone() };
    if !entered.contains(&here) {
        entered.push(here);
    }
    session.cycle_id().await.map_err(internal)?; // a new session id at privilege change
    session.insert(USER, &user.id).await.map_err(internal)?;
    session.insert(COURSES, &entered).await.map_err(internal)?;
    tracing::info!(course = %course.course_id, "course chat insights entered");
    let path = format!(
        "/instructor/{}",
        url::form_urlencoded::byte_serialize(course.course_id.as_bytes()).collect::<String>()
    );
    Ok(Redirect::to(&path).into_response())
}

/// A chat ticket with a staff role at its course (or an LMS global staff's).
async fn by_ticket(state: &InsightsState, ticket: &str) -> Result<(User, CourseKey), PageError> {
    let Some(verifier) = state.tickets.as_deref() else {
        return Err(refused("This gateway does not accept the LMS's tickets (TICKET_JWKS is not configured)."));
    };
    let claims = verifier.verify(ticket.trim()).map_err(|e| {
        tracing::info!(code = e.code().as_str(), reason = %e, "insights refused: the ticket");
        refused("The course's ticket is not acceptable here; open the insights from the course again.")
    })?;
    if !claims.role.is_course_staff() && !claims.global_staff {
        tracing::info!("insights refused: not course staff");
        return Err(refused("The course chat insights are for the course's staff."));
    }
    let spent_until = claims.expires_at_ms() + 60_000;
    if !state.db.spend_token(verifier.issuer(), &claims.jti, spent_until).await? {
        return Err(refused("This link was used already; open the insights from the course again."));
    }
    let user = state.db.upsert_identity(&claims.identity(verifier.identity_issuer())).await?;
    let course = CourseKey::of(&claims.context());
    // Global staff without a course role are staff here, as in the LMS.
    let role = if claims.role.is_course_staff() { claims.role } else { CourseRole::Staff };
    state.db.set_course_role(&user.id, &course, role).await?;
    Ok((user, course))
}

/// A staff pass an LTI launch with a staff role was given. The role it stands for is the one the
/// launch recorded; a later launch with a lower role shuts this door too.
async fn by_pass(state: &InsightsState, pass: &str) -> Result<(User, CourseKey), PageError> {
    let pass = StaffPass::open(&state.sealer, pass).map_err(|e| {
        tracing::info!(reason = %e, "insights refused: the staff pass");
        refused("This link is not valid any more; open the insights from the course's LTI link again.")
    })?;
    if !state.db.spend_token(StaffPass::ISSUER, &pass.jti, pass.expires_at_ms + 60_000).await? {
        return Err(refused("This link was used already; open the insights from the course's LTI link again."));
    }
    let course = pass.course();
    let staff = state.db.course_role(&pass.user_id, &course).await?.is_some_and(CourseRole::is_course_staff);
    if !staff {
        return Err(refused("The course chat insights are for the course's staff."));
    }
    let user = state.db.get_user(&pass.user_id).await?;
    Ok((user, course))
}
