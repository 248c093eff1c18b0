//! The history store's interface: rows, the trait backends implement, its errors.

use std::sync::Arc;

use app::line::{Point, Quality};
use async_trait::async_trait;

/// Why the history store (tag samples) failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database reported an error.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// Schema migration failed.
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be used.
    #[error("data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl From<StoreError> for app::api::service::ServiceError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "history store failed");
        Self::unavailable("the history store")
    }
}

/// One stored sample.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    /// Machine id.
    pub device: Arc<str>,
    /// Tag name.
    pub tag: Arc<str>,
    /// When read (unix ms).
    pub ts_ms: i64,
    /// Numeric value (numbers and bits).
    pub value: Option<f64>,
    /// Text value (strings and states).
    pub text: Option<String>,
    /// Quality of the read.
    pub quality: Quality,
}

/// A tag history store.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Appends rows in one transaction.
    async fn append(&self, rows: &[HistoryRow]) -> Result<(), StoreError>;
    /// Numeric history of `tags` of `device` in `[from_ms, to_ms]`, averaged into at
    /// most `buckets` points per tag; good and stale samples only.
    async fn series(
        &self,
        device: &str,
        tags: &[String],
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
    ) -> Result<Vec<(String, Vec<Point>)>, StoreError>;
    /// Deletes samples older than `before_ms`; returns how many.
    async fn prune(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
