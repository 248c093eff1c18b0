//! Storage: the history of tag values behind an interface of its own, so another
//! backend (PostgreSQL for plants with many lines) can follow without touching
//! acquisition or the UI. [`writer`] batches the bus into it.

#[cfg(feature = "service")]
mod history;
pub mod recent;
pub mod rollup;
pub mod settings;
#[cfg(feature = "service")]
pub mod sqlite;
#[cfg(feature = "service")]
pub mod trend;
#[cfg(feature = "service")]
pub mod writer;
#[cfg(feature = "service")]
pub use history::*;
