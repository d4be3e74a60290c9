//! Course memberships: a user's role in one course of one platform, written from each proof of it
//! (a chat ticket, an LTI launch) and read wherever a course-scoped right is checked.

use crate::domain::now_ms;

use crate::domain::CourseKey;
use crate::domain::CourseRole;
use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

impl Db {
    /// Records the user's role in the course. Reading first keeps the common case (nothing changed,
    /// a reconnect) free of writes.
    pub async fn set_course_role(&self, user_id: &str, course: &CourseKey, role: CourseRole) -> DbResult<()> {
        if self.course_role(user_id, course).await? == Some(role) {
            return Ok(());
        }
        let now = now_ms();
        // Update first, then insert: portable across the three dialects' different upsert syntax.
        for _ in 0..2 {
            let updated = sqlx::query(sql!(
                self,
                "UPDATE course_memberships SET role = ?, updated_at = ? WHERE user_id = ? AND platform = ? AND course_id = ?"
            ))
            .bind(role.as_str())
            .bind(now)
            .bind(user_id)
            .bind(&course.platform)
            .bind(&course.course_id)
            .execute(self.pool())
            .await?;
            if updated.rows_affected() > 0 {
                return Ok(());
            }
            let inserted = sqlx::query(sql!(
                self,
                "INSERT INTO course_memberships (user_id, platform, course_id, role, updated_at) VALUES (?, ?, ?, ?, ?)"
            ))
            .bind(user_id)
            .bind(&course.platform)
            .bind(&course.course_id)
            .bind(role.as_str())
            .bind(now)
            .execute(self.pool())
            .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => continue, // another socket of theirs landed first
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The user's role in the course, if a ticket or launch ever proved one.
    pub async fn course_role(&self, user_id: &str, course: &CourseKey) -> DbResult<Option<CourseRole>> {
        let role: Option<String> = sqlx::query_scalar(sql!(
            self,
            "SELECT role FROM course_memberships WHERE user_id = ? AND platform = ? AND course_id = ?"
        ))
        .bind(user_id)
        .bind(&course.platform)
        .bind(&course.course_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(role.as_deref().and_then(CourseRole::parse))
    }

    /// How many people the course has had (any role), as tickets and launches proved them.
    pub async fn count_course_members(&self, course: &CourseKey) -> DbResult<i64> {
        Ok(sqlx::query_scalar(sql!(
            self,
            "SELECT COUNT(*) FROM course_memberships WHERE platform = ? AND course_id = ?"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Every course anyone was proven to be in, for operators' views.
    pub async fn known_courses(&self) -> DbResult<Vec<CourseKey>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT DISTINCT platform, course_id FROM course_memberships ORDER BY platform, course_id")
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(|(platform, course_id)| CourseKey { platform, course_id }).collect())
    }

    /// The courses in which the user is course staff or instructor.
    pub async fn staffed_courses(&self, user_id: &str) -> DbResult<Vec<CourseKey>> {
        let rows: Vec<(String, String)> = sqlx::query_as(sql!(
            self,
            "SELECT platform, course_id FROM course_memberships WHERE user_id = ? AND role IN ('staff', 'instructor') ORDER BY platform, course_id"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(platform, course_id)| CourseKey { platform, course_id }).collect())
    }
}
