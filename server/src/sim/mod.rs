//! The line simulator: one Modbus TCP server per machine, serving the plant file's
//! register map with the dynamics of [`model`].

#[cfg(feature = "service")]
pub mod cells;
#[cfg(feature = "service")]
pub mod model;
#[cfg(feature = "service")]
mod plc;
pub mod settings;
#[cfg(feature = "service")]
pub mod stations;
#[cfg(feature = "service")]
pub use plc::*;
