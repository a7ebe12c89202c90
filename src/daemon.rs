//! The daemon loop. In this release it follows one DRBD resource: the supervised events2
//! child feeds the state model, and every old→new change is logged. The failover engine
//! plugs into the same loop: state changes become the core's inputs.

use crate::drbd::ResourceState;
use crate::exec::events2::{Events2Command, Events2Message, Events2Supervisor};
use tokio::signal::unix::{signal, SignalKind};

/// Follows `resource` until SIGTERM or SIGINT.
pub async fn follow_drbd(command: Events2Command, resource: &str) -> std::io::Result<()> {
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (_supervisor, mut events) = Events2Supervisor::spawn(command);
    let mut state = ResourceState::new(resource);
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            message = events.recv() => match message {
                Some(message) => observe(&mut state, message),
                None => break,
            },
        }
    }
    tracing::info!("stopping");
    Ok(())
}

fn observe(state: &mut ResourceState, message: Events2Message) {
    match message {
        Events2Message::Event(event) => {
            for change in state.apply(&event) {
                tracing::info!(resource = %state.name, "{change}");
            }
        }
        Events2Message::Unparsed { line, error } => {
            tracing::warn!(%line, %error, "events2 line not understood");
        }
        Events2Message::Exited { status, stderr } => {
            tracing::warn!(%status, %stderr, "drbdsetup events2 ended; DRBD state may be stale");
        }
        Events2Message::Restarting { delay_ms } => {
            tracing::info!(delay_ms, "restarting drbdsetup events2");
        }
    }
}
