//! Modbus as a protocol: the pure register codec and the request limits of the
//! function codes. The client side lives in [`crate::acquisition`].

pub mod codec;

/// Registers one read may cover (Modbus limit for function codes 3 and 4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Bits one read may cover (function codes 1 and 2).
pub const MAX_READ_BITS: u16 = 2000;
/// Registers one multi-register write may cover (function code 16).
pub const MAX_WRITE_REGISTERS: u16 = 123;
/// Bits one multi-coil write may cover (function code 15).
pub const MAX_WRITE_BITS: u16 = 1968;
