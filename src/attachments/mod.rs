//! Files attached to messages, apart from where they are kept (the store) and who may see
//! them (the chat domain): receiving an upload, and telling what its bytes are.

pub mod inspect;
pub mod upload;
