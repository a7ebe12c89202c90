//! The text of `/proc/drbd` (DRBD 8.4).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::drbd::procfs;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = procfs::parse(&text) {
        let _ = error.to_string();
    }
});
