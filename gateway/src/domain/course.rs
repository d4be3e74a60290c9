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

/// An Open edX course key of today's form, `course-v1:ORG+COURSE+RUN` (opaque-keys' `CourseLocator`
/// of a published course: no branch or version). The parts are letters, digits, `_`, `-`, `~`, `.`
/// and `:`, as opaque-keys allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEdxCourseId(String);

impl OpenEdxCourseId {
    /// Course keys (and usage ids) are at most this long: the database keys them as 255 characters.
    pub const MAX_LEN: usize = 255;

    pub fn parse(value: &str) -> Option<Self> {
        let parts = value.strip_prefix("course-v1:")?;
        let valid = value.len() <= Self::MAX_LEN
            && parts.split('+').count() == 3
            && parts.split('+').all(|part| !part.is_empty() && part.chars().all(key_char));
        valid.then(|| Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `usage_id` names a block of this course: `block-v1:ORG+COURSE+RUN+type@TYPE+block@ID`.
    pub fn owns_usage_id(&self, usage_id: &str) -> bool {
        let key = &self.0["course-v1:".len()..];
        let Some(rest) = usage_id.strip_prefix("block-v1:").and_then(|r| r.strip_prefix(key)) else {
            return false;
        };
        let Some((block_type, block_id)) = rest.strip_prefix("+type@").and_then(|r| r.split_once("+block@")) else {
            return false;
        };
        usage_id.len() <= Self::MAX_LEN
            && [block_type, block_id].iter().all(|part| !part.is_empty() && part.chars().all(key_char))
    }
}

fn key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '~' | '.' | ':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_edx_course_ids_and_their_blocks() {
        let course = OpenEdxCourseId::parse("course-v1:IBAL+BIO101+2025").expect("valid");
        assert_eq!(course.as_str(), "course-v1:IBAL+BIO101+2025");
        assert!(course.owns_usage_id("block-v1:IBAL+BIO101+2025+type@html+block@intro_1"));
        assert!(!course.owns_usage_id("block-v1:IBAL+BIO101+2026+type@html+block@intro_1"), "another run");
        assert!(!course.owns_usage_id("block-v1:IBAL+BIO101+2025+type@html"), "no block id");
        assert!(!course.owns_usage_id("block-v1:IBAL+BIO101+2025+type@+block@x"), "empty type");
        assert!(!course.owns_usage_id("block-v1:IBAL+BIO101+2025+type@html+block@a b"), "a space");
        for bad in [
            "",
            "IBAL/BIO101/2025",
            "course-v1:IBAL+BIO101",
            "course-v1:IBAL+BIO101+2025+x",
            "course-v1:IBAL++2025",
            "course-v1:IB AL+BIO101+2025",
            "course-v1:IBAL+BIO101+2025/../x",
        ] {
            assert_eq!(OpenEdxCourseId::parse(bad), None, "{bad:?}");
        }
        assert_eq!(OpenEdxCourseId::parse(&format!("course-v1:{}+B+C", "a".repeat(250))), None, "too long");
    }

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
