//! One service, one thread: a current-thread tokio runtime that serves until told to stop.

use std::future::Future;
use std::io;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

pub(crate) struct Runner {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Registers `listener` (if any) with a fresh runtime before the thread starts, so the caller
    /// gets the error, then runs `serve` on a thread called `name`.
    pub(crate) fn start<F, Fut>(
        name: &str,
        listener: Option<std::net::TcpListener>,
        serve: F,
    ) -> io::Result<Runner>
    where
        F: FnOnce(Option<tokio::net::TcpListener>, oneshot::Receiver<()>) -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        if let Some(l) = &listener {
            l.set_nonblocking(true)?;
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registering with the reactor needs the runtime's context.
        let registered = {
            let _guard = rt.enter();
            listener.map(tokio::net::TcpListener::from_std).transpose()
        };
        let listener = match registered {
            Ok(l) => l,
            Err(e) => {
                // A plain drop would panic if the caller is itself inside an async context.
                rt.shutdown_background();
                return Err(e);
            }
        };
        let (tx, rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                rt.block_on(serve(listener, rx));
                // Dropping the runtime cancels every connection task. A name lookup or a connector
                // stuck in the blocking pool must not hold up stop(), so do not wait for it long.
                rt.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(Runner {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Idempotent.
    pub(crate) fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}
