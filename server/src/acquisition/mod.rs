//! Acquisition: one owner task per PLC connection polls its scan groups and
//! publishes readings on the bus, and carries out setpoint writes sent to it
//! through [`PlcWriters`] (no second connection), each read back and verified.
//!
//! Every request runs under the device's timeout. After a timeout or any transport
//! or protocol error the connection is dropped (a late reply would desynchronise it)
//! and re-opened with exponential back-off and jitter, capped at the device's
//! `reconnect_max_ms`. A device exception or a short reply only refuses its block:
//! a merged block refused with exception 02/03 or short is split and read again
//! around the addresses the PLC lacks; a tag refused alone reads bad, with why on
//! the device page. The connection stays. One device never waits for another.

pub mod decode;
#[cfg(feature = "service")]
mod link;
pub mod plan;
#[cfg(feature = "service")]
mod sentence;
#[cfg(feature = "service")]
pub use link::*;
