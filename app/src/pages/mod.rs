//! Routed pages.
pub mod cell;
pub mod cells;
pub mod import;
pub mod machine;
pub mod models;
pub mod overview;
pub mod quality;
