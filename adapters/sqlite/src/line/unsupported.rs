//! No line shared between processes outside Linux (it needs abstract socket addresses): waiters
//! stand in their store's own line of threads and poll, as they did before the shared line.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::path::Path;
use std::time::{Duration, Instant};

/// Never built outside Linux.
#[derive(Debug)]
pub(crate) struct SharedLines(Infallible);

impl SharedLines {
    pub(crate) fn new(_database: &Path, _capacity: usize) -> Option<Self> {
        None
    }

    pub(crate) fn waiting(&self, _resource: &str) -> bool {
        match self.0 {}
    }

    pub(crate) fn join(&self, _resource: &str) -> Option<SharedPlace<'_>> {
        match self.0 {}
    }

    pub(crate) fn notify(&self, _resource: &str) {
        match self.0 {}
    }

    pub(crate) fn after_write(&self, _freed: Option<&str>) -> bool {
        match self.0 {}
    }

    pub(crate) fn writers_starving(&self, _patience: Duration) -> bool {
        match self.0 {}
    }

    pub(crate) fn join_write(&self) -> Option<SharedPlace<'_>> {
        match self.0 {}
    }
}

/// Never built outside Linux.
#[derive(Debug)]
pub(crate) struct SharedPlace<'a>(Infallible, PhantomData<&'a ()>);

impl SharedPlace<'_> {
    pub(crate) fn wait_for_turn(&mut self, _deadline: Option<Instant>) -> bool {
        match self.0 {}
    }

    pub(crate) fn mark(&mut self) {
        match self.0 {}
    }

    pub(crate) fn pause(&mut self, _pause: Duration) {
        match self.0 {}
    }

    pub(crate) fn granted(&mut self) {
        match self.0 {}
    }
}
