//! Acquisition: one owner task per PLC connection polls its scan groups and
//! publishes readings on the bus, and carries out setpoint writes sent to it
//! through [`PlcWriters`] (no second connection), each read back and verified.
//!
//! Every request runs under the device's timeout. After a timeout or any transport
//! or protocol error the connection is dropped (a late reply would desynchronise it)
//! and re-opened with exponential back-off and jitter. A device exception only marks
//! the block's tags bad; the connection stays. One device never waits for another.

pub mod decode;
#[cfg(feature = "service")]
mod link;
pub mod plan;
#[cfg(feature = "service")]
pub use link::*;
