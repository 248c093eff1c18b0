//! Reusable pieces of the UI.
pub mod alarm_panel;
pub mod cell_refresh;
pub mod chart;

pub mod header;
pub mod live_region;
pub mod machine_card;
pub mod model_health;
pub mod paged_table;
pub mod reason_bars;
pub mod risk_badge;
pub mod risk_chart;
pub mod spc_chart;
