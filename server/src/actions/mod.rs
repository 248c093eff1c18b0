//! Corrective actions: rules watch the recent cells and propose setpoint changes;
//! every write passes the safety envelope ([`app::actions::check`]), waits for a
//! supervisor unless the machine is in automatic mode, goes through the PLC's own
//! connection owner ([`PlcWriters`]), is read back and verified, and is recorded in
//! the actions journal ([`store`]); people's decisions also go to the audit trail.

#[cfg(feature = "service")]
mod engine;
pub mod settings;
#[cfg(feature = "service")]
pub mod store;
#[cfg(feature = "service")]
pub use engine::*;
