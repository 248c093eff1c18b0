//! Risk prediction: the evaluation metrics and threshold policies used to judge and
//! calibrate a model on held-out lots ([`metrics`]), trained models and scoring
//! ([`model`]), exact per-cell reasons of tree models ([`shap`]), training with its
//! artifacts ([`train`]), and whether a model still fits the line ([`drift`]).

pub mod artifacts;
pub mod drift;
pub mod metrics;
pub mod model;
pub mod shap;
pub mod train;
