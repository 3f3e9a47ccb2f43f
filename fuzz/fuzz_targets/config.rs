//! A config file's text through the real loading path (`Config::load_from_toml_str`: defaults,
//! the TOML, `CONFAB_*` variables, validation). Any text must load or be refused with an
//! error, never panic. A config that loads must be usable: every duration can be added to
//! the clock (the server computes deadlines as `Instant::now() + d` and expiry times as
//! `now_ms + d` in milliseconds), and what `confab config check` prints of it loads again to
//! the same settings.

#![no_main]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use confab::config::{Config, Overrides};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // figment reads files as UTF-8 and refuses anything else before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = Config::load_from_toml_str(text, &Overrides::default()) else {
        return;
    };
    for (name, value) in durations(&config) {
        assert!(
            clock_accepts(value),
            "{name} = {value:?} passed validation but overflows the clock"
        );
    }
    let printed = toml::to_string_pretty(&config).expect("a loaded config prints as TOML");
    let reloaded =
        Config::load_from_toml_str(&printed, &Overrides::default()).unwrap_or_else(|err| {
            panic!("`config check` printed a config that fails: {err}\n{printed}")
        });
    let reprinted = toml::to_string_pretty(&reloaded).expect("prints again");
    assert_eq!(
        printed, reprinted,
        "the printed config changes when loaded again"
    );
});

fn durations(config: &Config) -> [(&'static str, Duration); 7] {
    [
        ("rooms.ttl", config.rooms.ttl),
        ("rooms.sweep_interval", config.rooms.sweep_interval),
        (
            "auth.session_idle_timeout",
            config.auth.session_idle_timeout,
        ),
        ("auth.session_lifetime", config.auth.session_lifetime),
        ("auth.login_window", config.auth.login_window),
        ("limits.ws_idle_timeout", config.limits.ws_idle_timeout),
        ("backup.every", config.backup.every),
    ]
}

/// Whether `value` can be added to now, as an `Instant` and in Unix milliseconds.
fn clock_accepts(value: Duration) -> bool {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    Instant::now().checked_add(value).is_some() && u64::try_from(now_ms + value.as_millis()).is_ok()
}
