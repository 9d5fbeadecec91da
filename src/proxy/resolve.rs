//! Name resolution off the event loop: a few threads run the system resolver
//! (`getaddrinfo`, so `/etc/hosts` and nsswitch apply) and wake the loop with a
//! `mio::Waker`. Threads start on the first lookup, so a run without names costs none.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};

use mio::Waker;

/// Resolver threads at most; a lookup that hangs holds one of them.
const THREADS: usize = 4;

/// The answer to one lookup: the job id and the addresses (or the resolver's error).
pub type Answer = (u64, Result<Vec<IpAddr>, String>);

/// The lookups waiting for a thread, shared by the threads.
type JobQueue = Arc<Mutex<Receiver<(u64, String)>>>;

pub struct Resolver {
    jobs: Option<Sender<(u64, String)>>,
    queue: Option<JobQueue>,
    answers: Arc<Mutex<Vec<Answer>>>,
    waker: Arc<Waker>,
    threads: usize,
    busy: usize,
}

impl Resolver {
    pub fn new(waker: Arc<Waker>) -> Resolver {
        Resolver {
            jobs: None,
            queue: None,
            answers: Arc::new(Mutex::new(Vec::new())),
            waker,
            threads: 0,
            busy: 0,
        }
    }

    /// Queues a lookup of `name`; its answer comes from [`Resolver::answers`] after the
    /// waker fired.
    pub fn lookup(&mut self, id: u64, name: String) {
        if self.jobs.is_none() {
            let (tx, rx) = channel();
            self.jobs = Some(tx);
            self.queue = Some(Arc::new(Mutex::new(rx)));
        }
        self.busy += 1;
        if self.threads < THREADS && self.busy > self.threads {
            self.spawn();
        }
        if let Some(jobs) = &self.jobs {
            // The receiver lives as long as `self`, so sending cannot fail.
            let _ = jobs.send((id, name));
        }
    }

    fn spawn(&mut self) {
        let (Some(queue), answers, waker) =
            (self.queue.clone(), self.answers.clone(), self.waker.clone())
        else {
            return;
        };
        let started = std::thread::Builder::new()
            .name("fence-resolver".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                loop {
                    let job = match queue.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((id, name)) = job else { return };
                    let answer = resolve(&name);
                    if let Ok(mut list) = answers.lock() {
                        list.push((id, answer));
                    }
                    let _ = waker.wake();
                }
            });
        if started.is_ok() {
            self.threads += 1;
        }
    }

    /// The answers that arrived since the last call.
    pub fn answers(&mut self) -> Vec<Answer> {
        let list = match self.answers.lock() {
            Ok(mut list) => std::mem::take(&mut *list),
            Err(_) => Vec::new(),
        };
        self.busy = self.busy.saturating_sub(list.len());
        list
    }
}

fn resolve(name: &str) -> Result<Vec<IpAddr>, String> {
    let mut addrs: Vec<IpAddr> = Vec::new();
    for addr in (name, 0u16).to_socket_addrs().map_err(|e| e.to_string())? {
        let ip = SocketAddr::ip(&addr);
        if !addrs.contains(&ip) {
            addrs.push(ip);
        }
    }
    if addrs.is_empty() {
        return Err("no addresses".into());
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_wake_the_loop() {
        let mut poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(1)).unwrap());
        let mut resolver = Resolver::new(waker);
        resolver.lookup(1, "localhost".into());
        resolver.lookup(2, "name.invalid".into());
        let mut answers = Vec::new();
        let mut events = mio::Events::with_capacity(4);
        while answers.len() < 2 {
            poll.poll(&mut events, Some(std::time::Duration::from_secs(20)))
                .unwrap();
            assert!(!events.is_empty(), "the resolver never woke the loop");
            answers.extend(resolver.answers());
        }
        answers.sort_by_key(|a| a.0);
        assert!(
            answers[0]
                .1
                .as_ref()
                .unwrap()
                .iter()
                .any(IpAddr::is_loopback)
        );
        assert!(answers[1].1.is_err());
    }
}
