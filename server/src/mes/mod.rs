//! MES integration over REST, store-and-forward.
//!
//! CellGuard fetches production orders from the plant's MES and reports machine
//! data, quality results and order confirmations to it. Every report is written
//! to the [`outbox`] in the same transaction as the data it reports, then the
//! [`client`] (the one task that owns the MES connection) delivers it in order
//! with an idempotency key, riding through outages without losing or duplicating
//! a record; [`state`] holds the client's rules (order, back-off, Retry-After,
//! schedule) as a pure state machine. [`contract`] is the wire format
//! (`docs/mes-openapi.json`), [`sim`] an MES that implements it and misbehaves on
//! request.

#[cfg(feature = "service")]
pub mod client;
pub mod contract;
#[cfg(feature = "service")]
pub mod orders;
#[cfg(feature = "service")]
pub mod outbox;
#[cfg(feature = "service")]
pub mod report;
#[cfg(feature = "service")]
mod service;
pub mod settings;
#[cfg(feature = "service")]
pub mod sim;
#[cfg(feature = "service")]
pub mod state;
#[cfg(feature = "service")]
pub use service::*;
