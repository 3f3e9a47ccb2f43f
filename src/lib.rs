//! confab: a self-hosted team chat in one binary.
//!
//! Layers, from the edge inwards: `http` and `ws` (transport) → `chat` and `auth` (domain) →
//! `store` (sled, the only module that touches bytes). `attachments` receives uploads and tells
//! what their bytes are, for the domain. `app` wires them together.

pub mod admin;
pub mod app;
pub mod assets;
pub mod attachments;
pub mod auth;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod ids;
pub mod integrations;
pub mod low_priority;
pub mod metrics;
pub mod periodic;
pub mod push;
pub mod search;
pub mod store;
pub mod wire;
pub mod ws;
