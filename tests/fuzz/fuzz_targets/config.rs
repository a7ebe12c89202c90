//! `tandem.toml`: parse and validate; render the DRBD resource of every valid config.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::config::{render, Config};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Config::parse(&text, std::path::Path::new("fuzz.toml")) {
        Ok(config) => {
            let _ = render::drbd_resource(&config, "fuzz.toml");
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
