//! The seed stream's framing on loopback (exec/mariadb_backup.rs): a backup that fails on
//! the sending side never sends the end mark, so the receiver refuses the stream; a stranger
//! that does not speak the protocol is refused before mbstream runs.

use tandem::exec::mariadb_backup::{receive_into, send_backup, SeedIoError};
use tandem::replica::seed::STREAM_HEADER;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

async fn listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    (listener, address)
}

#[tokio::test]
async fn a_failed_backup_sends_no_end_mark_and_the_receiver_refuses_the_stream() {
    let (listener, address) = listener().await;
    let dir = tempfile::tempdir().unwrap();
    let receiver = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        receive_into(&mut tcp, dir.path()).await
    });
    // `false` plays a mariadb-backup that fails at once.
    let sent = send_backup(
        "false",
        std::path::Path::new("/nonexistent.sock"),
        "root",
        &address,
    )
    .await;
    assert!(
        matches!(&sent, Err(SeedIoError::Tool { tool, code: Some(1), .. }) if tool == "false"),
        "{sent:?}"
    );
    let received = receiver.await.unwrap();
    assert_eq!(
        received.unwrap_err().to_string(),
        "the stream broke: the stream ended before the sender's end mark: the backup failed \
         or the sender died on the active node"
    );
}

#[tokio::test]
async fn a_stranger_is_refused_before_anything_is_written() {
    let (listener, address) = listener().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    let receiver = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        receive_into(&mut tcp, &path).await
    });
    let mut tcp = TcpStream::connect(&address).await.unwrap();
    let stranger = vec![b'x'; STREAM_HEADER.len()];
    tcp.write_all(&stranger).await.unwrap();
    let received = receiver.await.unwrap();
    assert_eq!(
        received.unwrap_err().to_string(),
        "the stream broke: the sender did not speak tandem's seed protocol; nothing was written"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
