//! How events get into busbar over the wire, as pure functions of request
//! bytes: parsing, validation, envelope building and response bodies. The
//! sockets, HTTP framing and the hand-off to the pipeline belong to the
//! server that calls these, so every protocol rule here is testable without
//! a listener.

pub mod describe;
pub mod putevents;
