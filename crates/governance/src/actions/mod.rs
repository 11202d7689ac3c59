//! The governance actions workflows call: reading the governed world (`identity`) and changing it
//! (`manage`). The runtime hands them here through [`tessera_engine::Domain::perform`].

pub mod identity;
pub(crate) mod manage;

pub(crate) use tessera_engine::actions::{ActionError, type_name};
