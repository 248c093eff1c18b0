//! The services behind the UI's views: each combines the stores, the bus and the
//! risk models into what one area of the app shows (the line, quality), and is
//! what server functions and REST handlers call.

mod line;
pub mod quality;

pub use line::Line;
