//! The proxy's MySQL codec: framing, every message parser, the answer tracker and the
//! statement classifier, on arbitrary bytes; and its reader of tandemd's metrics answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem::proxy::cluster::{http_body, parse_metrics};
use tandem::proxy::message::{Command, Err, Handshake, HandshakeResponse, Ok};
use tandem::proxy::packet::take_packet;
use tandem::proxy::response::{Expect, Response};
use tandem::proxy::route::{classify, Session};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((packet, used))) = take_packet(rest) {
        let _ = Handshake::parse(&packet.payload);
        let _ = HandshakeResponse::parse(&packet.payload);
        let _ = Ok::parse(&packet.payload);
        let _ = Err::parse(&packet.payload);
        let _ = Command::parse(&packet.payload);
        rest = &rest[used..];
    }
    for expect in [Expect::Results, Expect::Prepare] {
        let mut response = Response::new(expect);
        for chunk in data.split(|&b| b == b'\n') {
            if response.feed(chunk).is_err() {
                break;
            }
        }
    }
    let text = String::from_utf8_lossy(data);
    let _ = classify(&text);
    let _ = Session::default().route(&text, &[]);
    let _ = http_body(data);
    let _ = parse_metrics(&text);
});
