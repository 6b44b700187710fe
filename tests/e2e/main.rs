//! Black-box tests: the plugin runtime and the publisher against real HTTP
//! mock targets on 127.0.0.1 and real compiled plugins (`make plugins`).

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
