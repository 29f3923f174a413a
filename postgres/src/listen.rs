//! The listener: one connection that `LISTEN`s on the store's channel and hands each
//! notice to this process's subscribers. Notices are hints: while the connection is
//! down (and it reconnects, with growing pauses), subscribers poll.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_postgres::{AsyncMessage, NoTls};
use waypost_core::store::{Notice, Notifier};

/// Listens on `channel` of the server at `config` until the task is aborted.
pub(crate) async fn run(
    config: tokio_postgres::Config,
    channel: String,
    notifier: Notifier,
    server: String,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut pause = Duration::from_millis(100);
    let mut ready = Some(ready);
    loop {
        match listen(&config, &channel, &notifier, &mut ready).await {
            Ok(()) => pause = Duration::from_millis(100),
            Err(error) => {
                tracing::warn!(%server, %error, retry_in = ?pause, "waypost-postgres: the notice listener lost its connection")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(10));
    }
}

async fn listen(
    config: &tokio_postgres::Config,
    channel: &str,
    notifier: &Notifier,
    ready: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let (sender, mut received) = futures::channel::mpsc::unbounded();
    let driver = async move {
        while let Some(message) = messages.next().await {
            match message {
                Ok(message) => {
                    let _ = sender.unbounded_send(message);
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    };
    let listening = async {
        client
            .batch_execute(&format!("LISTEN \"{}\"", channel.replace('"', "\"\"")))
            .await?;
        if let Some(ready) = ready.take() {
            let _ = ready.send(());
        }
        while let Some(message) = received.next().await {
            if let AsyncMessage::Notification(n) = message
                && let Some(notice) = parse(n.payload())
            {
                notifier.send(&notice);
            }
        }
        Ok(())
    };
    futures::future::try_join(driver, listening).await.map(drop)
}

/// A notice as [`notify`](crate::store::notify) writes it: `r:<workflow>`, `f:<id>`.
fn parse(payload: &str) -> Option<Notice> {
    match payload.split_once(':')? {
        ("r", workflow) => Some(Notice::Runnable {
            workflow: workflow.to_owned(),
        }),
        ("f", id) => Some(Notice::Finished { id: id.to_owned() }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_read_back() {
        assert_eq!(
            parse("r:orders"),
            Some(Notice::Runnable {
                workflow: "orders".into()
            })
        );
        assert_eq!(parse("f:a:b"), Some(Notice::Finished { id: "a:b".into() }));
        assert_eq!(parse("x"), None);
    }
}
