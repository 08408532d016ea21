//! Distributed runs (master and workers). So far: the plan that splits a test across workers;
//! the gRPC transport and the runners come next (see the open issue).

pub mod plan;
pub mod protocol;
pub mod transport;
