//! Risk prediction: the evaluation metrics and threshold policies used to judge and
//! calibrate a model on held-out lots ([`metrics`]), trained models and scoring
//! ([`model`]), and training with its artifacts ([`train`]).

pub mod artifacts;
pub mod metrics;
pub mod model;
pub mod train;
