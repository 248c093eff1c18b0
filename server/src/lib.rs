//! CellGuard's server: everything that touches the plant.
//!
//! Data flows one way: PLC → [`acquisition`] → [`bus`] → [`storage`] and the
//! [`web`] layer. [`config`] describes the plant, [`sim`] simulates it and
//! [`runtime`] wires it all together.
#![recursion_limit = "256"]
pub mod acquisition;
pub mod actions;
pub mod audit;
pub mod auth;
pub mod backoff;
pub mod bus;
pub mod cli;
pub mod config;
pub mod mes;
pub mod modbus;
pub mod quality;
pub mod risk;
pub mod runtime;
pub mod services;
pub mod sim;
pub mod storage;
pub mod telemetry;
pub mod web;
