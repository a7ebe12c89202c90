//! `drbdsetup events2` lines: parse, fold into a resource state, format the changes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::drbd::{events2, ResourceState};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match events2::parse_line(&text) {
        Ok(event) => {
            let _ = event.to_string();
            let mut state = ResourceState::new("r0");
            for change in state.apply(&event) {
                let _ = change.to_string();
            }
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
});
