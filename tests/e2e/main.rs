//! Black-box tests: the plugin runtime and the publisher against real HTTP
//! mock targets on 127.0.0.1 and real compiled plugins (`make plugins`).

mod publish;
mod sandbox;
