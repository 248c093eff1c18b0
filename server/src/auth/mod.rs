//! Access: who may use CellGuard and how they prove it. People sign in with a
//! name and password (Argon2id hashes, sessions in the database via
//! tower-sessions and axum-login); stations use API tokens with one scope. The
//! rules themselves (roles, permissions) are in [`app::auth`]; the checks on
//! every request are in [`crate::web::access`].

#[cfg(feature = "service")]
mod access;
#[cfg(feature = "service")]
pub mod sessions;
pub mod settings;
#[cfg(feature = "service")]
pub mod throttle;
#[cfg(feature = "service")]
pub mod tokens;
#[cfg(feature = "service")]
pub mod users;
#[cfg(feature = "service")]
pub use access::*;
