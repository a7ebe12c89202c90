//! `drbdadm role|dstate|cstate` outputs and the classification of drbdadm failures.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::drbd::{parse_drbdadm_cstate, parse_drbdadm_dstate, parse_drbdadm_role};
use tandem::exec::drbdadm;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Err(error) = parse_drbdadm_role(&text) {
        let _ = error.to_string();
    }
    if let Err(error) = parse_drbdadm_dstate(&text) {
        let _ = error.to_string();
    }
    if let Err(error) = parse_drbdadm_cstate(&text) {
        let _ = error.to_string();
    }
    let _ = drbdadm::classify("cmd", "r0", Some(11), &text).to_string();
});
