//! Types every layer shares: what a user is in a course.

use serde::{Deserialize, Serialize};

use super::ChatContext;

/// A user's role in one course of one platform, as the platform proved it (a chat ticket signed by
/// the LMS, or an LTI launch). It never spills over to another course or platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CourseRole {
    #[default]
    Learner,
    /// Course staff: teaching assistants, course administrators.
    Staff,
    Instructor,
}

impl CourseRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Learner => "learner",
            Self::Staff => "staff",
            Self::Instructor => "instructor",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "learner" => Some(Self::Learner),
            "staff" => Some(Self::Staff),
            "instructor" => Some(Self::Instructor),
            _ => None,
        }
    }

    /// Staff and instructors run the course: its analytics and moderation are theirs.
    pub fn is_course_staff(self) -> bool {
        matches!(self, Self::Staff | Self::Instructor)
    }
}

/// A course as the gateway keys it: the platform that proved it, and its id there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CourseKey {
    pub platform: String,
    pub course_id: String,
}

impl CourseKey {
    /// The course a chat context lies in.
    pub fn of(ctx: &ChatContext) -> Self {
        Self { platform: ctx.platform.clone(), course_id: ctx.course_id.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn course_roles_round_trip_and_rank() {
        for role in [CourseRole::Learner, CourseRole::Staff, CourseRole::Instructor] {
            assert_eq!(CourseRole::parse(role.as_str()), Some(role));
        }
        assert_eq!(CourseRole::parse("admin"), None);
        assert!(!CourseRole::Learner.is_course_staff());
        assert!(CourseRole::Staff.is_course_staff() && CourseRole::Instructor.is_course_staff());
    }
}
