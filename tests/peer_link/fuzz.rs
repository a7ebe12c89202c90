//! Arbitrary bytes into the decoders and into a server handshake: refused, never a panic.

use super::*;

proptest! {
    /// The pure decoders never panic on arbitrary bytes.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let key = key();
        let _ = frame::parse_header(&bytes);
        let _ = frame::split(&bytes).map(|raw| raw.payload().len());
        let _ = frame::open(&key, &SessionId::PRE_SESSION, Direction::ClientToServer, &bytes);
        let _ = Hello::decode(&bytes);
    }

    /// Arbitrary bytes behind a valid-looking header still never panic, and never pass.
    #[test]
    fn frames_with_a_valid_header_and_random_rest_are_refused(
        kind in 0u8..5,
        counter in any::<u64>(),
        rest in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut bytes = b"TNDM".to_vec();
        bytes.extend_from_slice(&[PROTOCOL_VERSION, kind]);
        bytes.extend_from_slice(&(rest.len().saturating_sub(TAG_BYTES) as u32).to_be_bytes());
        bytes.extend_from_slice(&counter.to_be_bytes());
        bytes.extend_from_slice(&rest);
        let opened = frame::open(&key(), &SessionId::PRE_SESSION, Direction::ClientToServer, &bytes);
        prop_assert!(opened.is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// A server fed arbitrary bytes returns an error and does not panic.
    #[test]
    fn server_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let outcome = runtime.block_on(async move {
            let (listener, addr) = bind().await;
            let server = tokio::spawn(async move {
                let (stream, _) = listener.accept().await.expect("accept");
                handshake_server(stream, &key(), &as_b(), Duration::from_millis(500)).await
            });
            let mut raw = TcpStream::connect(addr).await.expect("connect");
            let _ = raw.write_all(&bytes).await;
            let _ = raw.shutdown().await;
            server.await.expect("server task did not panic")
        });
        prop_assert!(outcome.is_err());
    }
}
