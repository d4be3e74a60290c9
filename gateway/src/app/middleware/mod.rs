//! The middleware every request passes through, one file each.

pub mod observe;
