//! Risk prediction. So far: the evaluation metrics and threshold policies used to
//! judge and calibrate a model on held-out lots (pure, no I/O).

pub mod metrics;
