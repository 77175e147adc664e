//! One direction of a simulated link: latency, loss, duplication, reordering, MTU, and the
//! scripted faults tests use to make a scenario happen on purpose.
//!
//! The link only holds settings; the simulator draws the random outcomes from its own seeded
//! generator, so a link never introduces nondeterminism.

use std::time::Duration;

/// What an interceptor does with a datagram in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it unchanged.
    Pass,
    /// Lose it.
    Drop,
    /// Deliver these bytes instead.
    Replace(Vec<u8>),
}

pub(crate) type Interceptor = Box<dyn FnMut(&[u8]) -> Verdict>;

/// One direction of a link between two nodes.
pub struct Link {
    /// One-way delay.
    pub latency: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram gets an extra delay of up to `reorder_window`.
    pub reorder: f64,
    /// The largest extra delay of a reordered datagram.
    pub reorder_window: Duration,
    /// Datagrams longer than this are lost.
    pub mtu: usize,
    pub(crate) drop_next: u32,
    pub(crate) partitioned: bool,
    pub(crate) intercept: Option<Interceptor>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("latency", &self.latency)
            .field("loss", &self.loss)
            .field("duplicate", &self.duplicate)
            .field("reorder", &self.reorder)
            .field("mtu", &self.mtu)
            .field("drop_next", &self.drop_next)
            .field("partitioned", &self.partitioned)
            .field("intercept", &self.intercept.is_some())
            .finish()
    }
}

impl Default for Link {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_window: Duration::from_millis(500),
            mtu: 1500,
            drop_next: 0,
            partitioned: false,
            intercept: None,
        }
    }
}

impl Link {
    /// Sets the one-way delay.
    pub fn latency(&mut self, latency: Duration) -> &mut Self {
        self.latency = latency;
        self
    }

    /// Sets the loss probability.
    pub fn loss(&mut self, p: f64) -> &mut Self {
        self.loss = p;
        self
    }

    /// Sets the duplication probability.
    pub fn duplicate(&mut self, p: f64) -> &mut Self {
        self.duplicate = p;
        self
    }

    /// Sets the reordering probability and the largest extra delay.
    pub fn reorder(&mut self, p: f64, window: Duration) -> &mut Self {
        self.reorder = p;
        self.reorder_window = window;
        self
    }

    /// Sets the MTU.
    pub fn mtu(&mut self, mtu: usize) -> &mut Self {
        self.mtu = mtu;
        self
    }

    /// Loses the next `n` datagrams sent over this link.
    pub fn drop_next(&mut self, n: u32) -> &mut Self {
        self.drop_next += n;
        self
    }

    /// Loses everything until [`heal`](Self::heal).
    pub fn partition(&mut self) -> &mut Self {
        self.partitioned = true;
        self
    }

    /// Ends a partition.
    pub fn heal(&mut self) -> &mut Self {
        self.partitioned = false;
        self
    }

    /// Passes every datagram through `f` before the random faults apply.
    pub fn intercept(&mut self, f: impl FnMut(&[u8]) -> Verdict + 'static) -> &mut Self {
        self.intercept = Some(Box::new(f));
        self
    }

    /// Removes the interceptor.
    pub fn clear_intercept(&mut self) -> &mut Self {
        self.intercept = None;
        self
    }
}
