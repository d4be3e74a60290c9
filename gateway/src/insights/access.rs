//! Who may open a course's dashboard: its staff, as the LMS last said (a chat ticket with a staff
//! role, presented to `/instructor/enter`), and the gateway's operators. The browser holds only a
//! session cookie; the role is read from the database on every request, so a ticket with a lower
//! role, or a retirement, takes effect at once.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::domain::{CourseKey, User};
use crate::store::{Db, DbError};
use crate::web::error::PageError;

/// The session's key for the courses entered through a ticket.
pub const COURSES: &str = "insights_courses";
/// The session's key for the user who entered them.
pub const USER: &str = "insights_user";
/// The identity door's key for a signed-in user (operators sign in there).
const SIGNED_IN: &str = "user_id";

/// A course entered through a ticket, as the session keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entered {
    pub platform: String,
    pub course_id: String,
}

/// Who is looking, and at which course.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user: User,
    pub course: CourseKey,
    pub operator: bool,
}

fn forbidden() -> PageError {
    PageError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "Not for you",
        "This page is for the course's staff. Open it from the course (the chat block's \"Course chat insights\").",
    )
}

fn session_error(e: tower_sessions::session::Error) -> PageError {
    PageError::internal(e.to_string())
}

/// The viewer of `course_id`'s dashboard, or 403.
///
/// # Errors
/// 403 for anyone but the course's staff and operators; storage failures.
pub async fn viewer(session: &Session, db: &Db, course_id: &str) -> Result<Viewer, PageError> {
    if let Some(user_id) = session.get::<String>(USER).await.map_err(session_error)? {
        let entered: Vec<Entered> = session.get(COURSES).await.map_err(session_error)?.unwrap_or_default();
        for course in entered.into_iter().filter(|c| c.course_id == course_id) {
            let key = CourseKey { platform: course.platform, course_id: course.course_id };
            let staff = db.course_role(&user_id, &key).await?.is_some_and(|role| role.is_course_staff());
            if staff {
                let user = db.get_user(&user_id).await?;
                let operator = user.role.is_operator();
                return Ok(Viewer { user, course: key, operator });
            }
        }
    }
    if let Some(user_id) = session.get::<String>(SIGNED_IN).await.map_err(session_error)? {
        let user = match db.get_user(&user_id).await {
            Ok(user) => user,
            Err(DbError::NotFound) => return Err(forbidden()),
            Err(e) => return Err(e.into()),
        };
        if user.role.is_operator()
            && let Some(course) = db.known_courses().await?.into_iter().find(|c| c.course_id == course_id)
        {
            return Ok(Viewer { user, course, operator: true });
        }
    }
    Err(forbidden())
}
