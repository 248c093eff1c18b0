//! Modbus: the pure register codec and read planner, and the client used by acquisition.

pub mod codec;
pub mod plan;
