//! The web UI, embedded in the binary at build time: no files to deploy, no CDN.

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
pub struct Assets;
