//! Routed pages.
pub mod machine;
pub mod overview;
