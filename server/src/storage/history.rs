//! The history store's interface: rows, the trait backends implement, its errors.

use app::line::Quality;
use async_trait::async_trait;

use super::rollup::{Rollup, RollupRow};
use crate::plant::TagId;

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
pub struct Sample {
    /// The tag.
    pub tag: TagId,
    /// When read (unix ms).
    pub ts_ms: i64,
    /// Numeric value (numbers and bits).
    pub value: Option<f64>,
    /// Text value (strings and states).
    pub text: Option<String>,
    /// Quality of the read.
    pub quality: Quality,
}

/// One point of a trend: a bucket's mean at its last value's time, with the bucket's
/// lowest and highest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Time of the bucket's last value (unix ms).
    pub t: i64,
    /// Mean of the bucket's values.
    pub mean: f64,
    /// Lowest value.
    pub min: f64,
    /// Highest value.
    pub max: f64,
}

/// What a store keeps: raw samples or one of the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// The samples as written.
    Raw,
    /// A rollup.
    Rollup(Rollup),
}

/// A tag history store (the historian).
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Appends samples and rollup rows in one transaction; a rollup row for an
    /// interval already stored merges with it.
    async fn append(&self, samples: &[Sample], rollups: &[RollupRow]) -> Result<(), StoreError>;
    /// Numeric history of each of `tags` in `[from_ms, to_ms]`, in at most `buckets`
    /// buckets per tag, read from the coarsest tier that still gives that many (good
    /// and stale values only). One list per tag, in the order asked.
    async fn trend(
        &self,
        tags: &[TagId],
        from_ms: i64,
        to_ms: i64,
        buckets: u32,
    ) -> Result<Vec<Vec<Bucket>>, StoreError>;
    /// Fills the rollup rows missing since the hour of each tag's last sample from raw
    /// history: the intervals that were open when the process stopped without
    /// flushing them (a crash or a power loss). Rows already stored are kept.
    async fn rebuild_rollups(&self) -> Result<(), StoreError>;
    /// Deletes the rows of `tier` older than `before_ms`; returns how many.
    async fn prune(&self, tier: Tier, before_ms: i64) -> Result<u64, StoreError>;
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
