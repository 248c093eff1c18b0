//! CellGuard's server integration tests: real TCP on loopback, real simulators,
//! real SQLite files, an independent Modbus server (pymodbus) and the real HTTP app.

mod access;
mod acquisition;
mod actions;
mod alarms;
mod arguments;
mod cli;
mod common;
mod drift;
mod faults;
mod mes;
mod models;
mod modules;
mod openapi;
mod plcmaps;
mod pymodbus;
mod quality;
mod spc;
mod testplc;
mod web;
mod writeback;
