//! hookgate's library: the event model, configuration, verifiers, routing, handlers, the ports
//! (event store, queue) with their adapters, and the ingest, process and replay logic written once
//! against the ports. The Lambda functions and the `hookgate` CLI are thin edges around it.

pub mod adapters;
pub mod admin;
pub mod app;
pub mod clock;
pub mod codec;
pub mod config;
#[cfg(feature = "contract")]
pub mod contract;
pub mod demo;
pub mod handlers;
pub mod http;
pub mod ingest;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod message;
pub mod metrics;
pub mod model;
#[cfg(all(feature = "aws", feature = "contract"))]
pub mod moto;
#[cfg(feature = "outbound")]
pub mod outbound;
pub mod ports;
pub mod process;
pub mod query;
pub mod replay;
pub mod routing;
pub mod samples;
pub mod secrets;
#[cfg(feature = "tls")]
pub mod tls;
pub mod verify;
pub mod worker;
