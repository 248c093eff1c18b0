//! Alarms as ISA-18.2 describes them: tag limits (HiHi/Hi/Lo/LoLo with deadband and
//! on-delay, from the plant file) evaluated on every scan ([`evaluate`]), lost PLC
//! links, failed writes, lots in the highest risk tier, MES dead letters and SPC rule
//! violations ([`probes`]); each with a priority and a message that says what to do.
//! The state machine is pure ([`app::alarm`]); [`engine`] keeps the book, journals
//! every transition in [`store`] and audits people's.

#[cfg(feature = "service")]
mod engine;
#[cfg(feature = "service")]
pub mod evaluate;
#[cfg(feature = "service")]
pub mod probes;
pub mod settings;
#[cfg(feature = "service")]
pub mod store;
#[cfg(feature = "service")]
pub use engine::*;
