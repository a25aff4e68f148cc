//! [`block_on`]: runs a future to completion on the calling thread, parking it between polls.
//!
//! Not tokio's `Runtime::block_on`, which panics on a thread that is already running a tokio
//! runtime: the blocking store must work from any thread, a tokio worker included (where it
//! blocks that worker, as any blocking call does). The store's I/O never needs the calling
//! thread: tokio-postgres' client only exchanges messages with the connection's driver task,
//! which runs on the store's own runtime, and the store's timers are that runtime's too (the
//! caller enters its context first).

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// Wakes one `block_on` call: a flag, so that a wake-up is never lost to another park on the same
/// thread (a nested `block_on` inside a fenced closure), and the thread to unpark.
struct Signal {
    woken: AtomicBool,
    thread: Thread,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.thread.unpark();
    }
}

/// Polls `future` on this thread until it is ready; between polls the thread sleeps until the
/// future's waker is called.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let signal = Arc::new(Signal {
        woken: AtomicBool::new(false),
        thread: thread::current(),
    });
    let waker = Waker::from(Arc::clone(&signal));
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // `park` may return spuriously, and a wake may come before it: the flag decides.
        while !signal.woken.swap(false, Ordering::Acquire) {
            thread::park();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::block_on;

    #[test]
    fn runs_a_future_woken_from_another_thread_and_nests() {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let waker = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            sender.send(7).expect("the receiver waits");
        });
        let nested = block_on(async {
            let inner = block_on(async { 5 });
            inner + receiver.await.expect("sent")
        });
        assert_eq!(nested, 12);
        waker.join().expect("no panic");
    }

    #[test]
    fn works_on_a_thread_that_runs_a_tokio_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let answer = runtime.block_on(async { block_on(async { 42 }) });
        assert_eq!(answer, 42);
    }
}
