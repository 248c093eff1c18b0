//! CellGuard's server: everything that touches the plant.
//!
//! Data flows one way: **PLC → acquisition → bus/store → scoring & rules → UI, MES,
//! write-back.**
//!
//! - [`config`] loads the plant file (each section's file type and checks live with
//!   their owner, in a `settings` module) and resolves it once into the typed
//!   [`plant`] (devices and tags named by [`plant::DeviceId`] / [`plant::TagId`]) and
//!   the owners' settings ([`config::Settings`]).
//! - [`acquisition`] owns one task per PLC connection: it plans the reads
//!   ([`acquisition::plan`]), decodes registers with [`modbus::codec`]
//!   ([`acquisition::decode`]) and publishes readings by `TagId` on the [`bus`]; it
//!   also carries out writes for [`actions`] ([`acquisition::PlcWriters`]).
//! - [`storage`] keeps the history the [`storage::writer`] takes off the bus.
//! - [`quality`] holds the cells' records (catalogue, ingestion, datasets, store);
//!   [`risk`] trains and scores the models; [`services`] combine them (and the bus)
//!   into the views the UI and the REST API ask for.
//! - [`actions`] runs the rules over the scores and writes setpoints back inside the
//!   safety envelope; [`mes`] reports machine data and quality results through its
//!   outbox and fetches orders.
//! - [`alarms`] raises, journals and tracks alarms (ISA-18.2) from tag limits, links,
//!   failed writes, lot tiers, the MES and SPC rules; [`spc`] draws control charts,
//!   freezes their limits and studies capability.
//! - [`web`] serves the Leptos app, the REST API and the live stream; [`auth`] and
//!   [`audit`] say who may do what and what was done.
//! - [`sim`] simulates the line, [`cli`] is the command line, [`runtime`] wires it
//!   all together and stops it in order.
//! - Leaf modules: [`clock`], [`util`], [`problems`], [`backoff`], [`telemetry`].
//!
//! No two top-level modules import each other (checked by the `modules` test).
#![recursion_limit = "256"]
pub mod acquisition;
pub mod actions;
pub mod alarms;
#[cfg(feature = "service")]
pub mod audit;
pub mod auth;
#[cfg(feature = "service")]
pub mod backoff;
pub mod bus;
#[cfg(feature = "service")]
pub mod cli;
pub mod clock;
pub mod config;
pub mod mes;
pub mod modbus;
pub mod plant;
pub mod problems;
pub mod quality;
#[cfg(feature = "service")]
pub mod risk;
#[cfg(feature = "service")]
pub mod runtime;
#[cfg(feature = "service")]
pub mod services;
pub mod sim;
#[cfg(feature = "service")]
pub mod spc;
pub mod storage;
#[cfg(feature = "service")]
pub mod telemetry;
pub mod util;
#[cfg(feature = "service")]
pub mod web;
