//! The tokio driver: one task owning one [`Engine`] and one [`UdpSocket`].
//!
//! The task `select!`s over the socket, the engine's next deadline (`sleep_until`), a bounded
//! channel of commands (closures run on the engine) and a shutdown signal. After every step it
//! sends what `poll_transmit` gives (at most `max_transmits_per_wake` before looking at inputs
//! again), then calls the owner's hook so events can be drained into channels. This is the
//! only place in the workspace that reads the clock: `now` is
//! `tokio::time::Instant::now().into_std()`, so `tokio::time::pause()` drives it too.
//!
//! Each driver owns one receive buffer of [`DriverConfig::recv_buffer_size`] bytes. The kernel
//! silently truncates a datagram longer than the buffer, so a datagram that fills the buffer is
//! never parsed: it is counted in [`DriverStats::datagrams_oversized`] and dropped (a CON sender
//! retransmits and eventually gives up; a DTLS record that was cut would fail its MAC anyway).
//!
//! Socket errors that concern one datagram or one remote (ICMP errors reported by
//! `recv_from`/`send_to`, see [`crate::udp`]) are counted and ignored; any other receive error
//! ends the task with [`DriverError`].

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use coap::{Engine, Peer};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, trace};

use crate::udp::is_transient;

/// A command: runs on the engine inside the driver task, with the driver's `now`.
pub type Command<E> = Box<dyn FnOnce(&mut E, Instant) + Send>;

/// Driver tunables.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// Commands that can wait in the channel.
    pub command_capacity: usize,
    /// Datagrams received per wake before the other inputs get a turn.
    pub max_datagrams_per_wake: usize,
    /// Commands run per wake.
    pub max_commands_per_wake: usize,
    /// Datagrams sent per wake; the rest go out on the next turn of the loop.
    pub max_transmits_per_wake: usize,
    /// Bytes of the receive buffer (allocated once per driver). The largest datagram accepted is
    /// one byte shorter: a datagram that fills the buffer may have been truncated by the kernel,
    /// so it is counted in [`DriverStats::datagrams_oversized`] and dropped, never parsed.
    /// The default, 65 536, accepts any UDP datagram; a socket that only ever gets MTU-sized
    /// datagrams (a device talking to one server that uses block-wise transfers) can use a
    /// few KiB, which matters with thousands of drivers in one process.
    pub recv_buffer_size: usize,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            command_capacity: 256,
            max_datagrams_per_wake: 64,
            max_commands_per_wake: 64,
            max_transmits_per_wake: 256,
            recv_buffer_size: DEFAULT_RECV_BUFFER_SIZE,
        }
    }
}

/// Driver counters (a snapshot; see [`DriverHandle::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Datagrams received and handed to the engine.
    pub datagrams_received: u64,
    /// Datagrams that filled the receive buffer (possibly truncated), dropped unparsed.
    pub datagrams_oversized: u64,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Receive errors ignored (ICMP errors and the like).
    pub recv_errors_ignored: u64,
    /// Datagrams the socket refused to send (each dropped).
    pub send_errors: u64,
}

#[derive(Debug, Default)]
struct Counters {
    datagrams_received: AtomicU64,
    datagrams_oversized: AtomicU64,
    datagrams_sent: AtomicU64,
    recv_errors_ignored: AtomicU64,
    send_errors: AtomicU64,
}

impl Counters {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> DriverStats {
        DriverStats {
            datagrams_received: self.datagrams_received.load(Ordering::Relaxed),
            datagrams_oversized: self.datagrams_oversized.load(Ordering::Relaxed),
            datagrams_sent: self.datagrams_sent.load(Ordering::Relaxed),
            recv_errors_ignored: self.recv_errors_ignored.load(Ordering::Relaxed),
            send_errors: self.send_errors.load(Ordering::Relaxed),
        }
    }
}

/// Why the driver task stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The socket failed in a way that is not about one datagram.
    #[error("receiving on udp socket {local} failed")]
    Recv {
        /// Local address of the socket.
        local: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
}

/// The driver task is gone (shut down, or stopped by an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the driver task has stopped")]
pub struct DriverClosed;

/// Why a command could not be queued without waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TrySendError {
    /// The command channel is full.
    #[error("the driver's command channel is full")]
    Full,
    /// The driver task has stopped.
    #[error("the driver task has stopped")]
    Closed,
}

/// Talks to a running driver. Cloning is cheap. The driver stops on [`DriverHandle::shutdown`]
/// or once every handle is dropped.
pub struct DriverHandle<E> {
    commands: mpsc::Sender<Command<E>>,
    shutdown: Arc<watch::Sender<bool>>,
    local_addr: SocketAddr,
    counters: Arc<Counters>,
}

impl<E> Clone for DriverHandle<E> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            shutdown: self.shutdown.clone(),
            local_addr: self.local_addr,
            counters: self.counters.clone(),
        }
    }
}

impl<E> std::fmt::Debug for DriverHandle<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverHandle").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

impl<E: 'static> DriverHandle<E> {
    /// Queues `command` to run on the engine, waiting while the channel is full.
    pub async fn send(&self, command: impl FnOnce(&mut E, Instant) + Send + 'static) -> Result<(), DriverClosed> {
        self.commands.send(Box::new(command)).await.map_err(|_| DriverClosed)
    }

    /// Queues `command` without waiting.
    pub fn try_send(&self, command: impl FnOnce(&mut E, Instant) + Send + 'static) -> Result<(), TrySendError> {
        self.commands.try_send(Box::new(command)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => TrySendError::Full,
            mpsc::error::TrySendError::Closed(_) => TrySendError::Closed,
        })
    }

    /// Runs `command` on the engine and returns its result.
    pub async fn call<R: Send + 'static>(
        &self,
        command: impl FnOnce(&mut E, Instant) -> R + Send + 'static,
    ) -> Result<R, DriverClosed> {
        let (tx, rx) = oneshot::channel();
        self.send(move |engine, now| {
            let _ = tx.send(command(engine, now));
        })
        .await?;
        rx.await.map_err(|_| DriverClosed)
    }

    /// Asks the driver to stop after sending what the engine has queued (bounded).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// The socket's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The driver's counters.
    pub fn stats(&self) -> DriverStats {
        self.counters.snapshot()
    }

    /// Whether the driver task has stopped.
    pub fn is_closed(&self) -> bool {
        self.commands.is_closed()
    }
}

/// The driver task's state; run it with [`Driver::run`] or start it with [`spawn`].
pub struct Driver<E, H> {
    engine: E,
    socket: UdpSocket,
    local_addr: SocketAddr,
    hook: H,
    commands: mpsc::Receiver<Command<E>>,
    shutdown: watch::Receiver<bool>,
    config: DriverConfig,
    counters: Arc<Counters>,
    recv_buf: Vec<u8>,
    send_buf: Vec<u8>,
}

impl<E, H> std::fmt::Debug for Driver<E, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver").field("local_addr", &self.local_addr).finish_non_exhaustive()
    }
}

/// The clock, read here and nowhere else.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Default receive buffer: larger than any UDP payload (65 527 bytes over IPv6), so it never
/// fills.
pub const DEFAULT_RECV_BUFFER_SIZE: usize = 65_536;

/// Smallest receive buffer used, whatever the configuration says.
const MIN_RECV_BUFFER_SIZE: usize = 64;

impl<E: Engine, H: FnMut(&mut E)> Driver<E, H> {
    /// A driver for `engine` on `socket`; `hook` runs after every step.
    pub fn new(engine: E, socket: UdpSocket, hook: H, config: DriverConfig) -> io::Result<(Self, DriverHandle<E>)> {
        let local_addr = socket.local_addr()?;
        let (tx, rx) = mpsc::channel(config.command_capacity.max(1));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let handle =
            DriverHandle { commands: tx, shutdown: Arc::new(shutdown_tx), local_addr, counters: counters.clone() };
        let driver = Self {
            engine,
            socket,
            local_addr,
            hook,
            commands: rx,
            shutdown: shutdown_rx,
            recv_buf: vec![0; config.recv_buffer_size.max(MIN_RECV_BUFFER_SIZE)],
            config,
            counters,
            send_buf: Vec::with_capacity(2048),
        };
        Ok((driver, handle))
    }

    /// Runs until shut down (returning the engine) or until the socket fails.
    pub async fn run(mut self) -> Result<E, DriverError> {
        let mut backlog = false;
        loop {
            let deadline = self.engine.poll_timeout();
            let sleep = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                changed = self.shutdown.changed() => {
                    if changed.is_err() || *self.shutdown.borrow() {
                        break;
                    }
                }
                command = self.commands.recv() => match command {
                    Some(command) => self.run_commands(command),
                    None => break,
                },
                received = self.socket.recv_from(&mut self.recv_buf) => self.on_received(received)?,
                () = sleep => {
                    self.engine.handle_timeout(now());
                }
                () = std::future::ready(()), if backlog => {}
            }
            backlog = self.after_step().await;
        }
        // Send what is queued (close_notify …), within one budget.
        self.after_step().await;
        debug!(local = %self.local_addr, "driver stopped");
        Ok(self.engine)
    }

    fn run_commands(&mut self, first: Command<E>) {
        let now = now();
        first(&mut self.engine, now);
        for _ in 1..self.config.max_commands_per_wake {
            match self.commands.try_recv() {
                Ok(command) => command(&mut self.engine, now),
                Err(_) => break,
            }
        }
    }

    fn on_received(&mut self, first: io::Result<(usize, SocketAddr)>) -> Result<(), DriverError> {
        let now = now();
        let mut received = first;
        let mut budget = self.config.max_datagrams_per_wake.max(1);
        loop {
            match received {
                Ok((len, from)) if len >= self.recv_buf.len() => {
                    Counters::bump(&self.counters.datagrams_oversized);
                    debug!(local = %self.local_addr, %from, buffer = self.recv_buf.len(), "datagram filled the receive buffer; dropped");
                }
                Ok((len, from)) => {
                    Counters::bump(&self.counters.datagrams_received);
                    let datagram = self.recv_buf.get(..len).unwrap_or(&[]);
                    self.engine.handle_datagram(now, Peer::udp(from), datagram);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if is_transient(&e) => {
                    Counters::bump(&self.counters.recv_errors_ignored);
                    trace!(local = %self.local_addr, error = %e, "ignored receive error");
                }
                Err(source) => return Err(DriverError::Recv { local: self.local_addr, source }),
            }
            budget -= 1;
            if budget == 0 {
                // Read nothing more: a datagram taken now would have no turn to be handled.
                return Ok(());
            }
            received = self.socket.try_recv_from(&mut self.recv_buf);
        }
    }

    /// Fires a due deadline, sends (bounded), runs the hook, sends again with what budget is
    /// left. Returns whether transmits are still waiting.
    async fn after_step(&mut self) -> bool {
        let now = now();
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
        }
        let mut budget = self.config.max_transmits_per_wake.max(1);
        let mut backlog = self.flush(now, &mut budget).await;
        (self.hook)(&mut self.engine);
        if !backlog {
            backlog = self.flush(now, &mut budget).await;
        }
        backlog
    }

    async fn flush(&mut self, now: Instant, budget: &mut usize) -> bool {
        while *budget > 0 {
            let Some(transmit) = self.engine.poll_transmit(now, &mut self.send_buf) else {
                return false;
            };
            *budget -= 1;
            let Some(datagram) = self.send_buf.get(..transmit.len) else {
                Counters::bump(&self.counters.send_errors);
                continue;
            };
            match self.socket.send_to(datagram, transmit.peer.addr).await {
                Ok(_) => Counters::bump(&self.counters.datagrams_sent),
                Err(e) => {
                    Counters::bump(&self.counters.send_errors);
                    trace!(to = %transmit.peer.addr, error = %e, "send failed; datagram dropped");
                }
            }
        }
        true
    }
}

/// The spawned driver task: the engine back on shutdown, or why the socket failed.
pub type DriverTask<E> = JoinHandle<Result<E, DriverError>>;

/// Starts a driver task for `engine` on `socket`. The task returns the engine on shutdown.
pub fn spawn<E, H>(
    engine: E,
    socket: UdpSocket,
    hook: H,
    config: DriverConfig,
) -> io::Result<(DriverHandle<E>, DriverTask<E>)>
where
    E: Engine + Send + 'static,
    H: FnMut(&mut E) + Send + 'static,
{
    let (driver, handle) = Driver::new(engine, socket, hook, config)?;
    Ok((handle, tokio::spawn(driver.run())))
}
