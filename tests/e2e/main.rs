//! Black-box tests: the plugin runtime and the publisher against real HTTP
//! mock targets on 127.0.0.1 and real compiled plugins (`make plugins`).

// Helpers in test files are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alertmanager;
mod am_e2e;
mod config;
mod crash;
mod daemon;
mod health;
mod publish;
mod queue;
mod reload;
mod sandbox;
mod sequences;
