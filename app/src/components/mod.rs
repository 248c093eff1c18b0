//! Reusable pieces of the UI.
pub mod chart;
pub mod header;
pub mod machine_card;
