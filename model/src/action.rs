//! [`Action`]: one indivisible step of the model, and its stable text form.

/// Whether the reply to an acquire reaches the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reply {
    /// The client learns the outcome.
    Delivered,
    /// The store applied the acquire, but the client never hears back.
    Lost,
}

/// One indivisible step. `ahead` is how many ticks the client's clock reads ahead of the store's
/// (always 0 except under `client-clock`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The clock advances one tick.
    Tick,
    /// One atomic acquire: the core decides and the store writes, in one step.
    Acquire {
        /// Who asks.
        client: u8,
        /// For which resource.
        resource: u8,
        /// Client clock offset.
        ahead: u8,
        /// Whether the client hears the outcome.
        reply: Reply,
    },
    /// Retry of an acquire whose reply was lost, with the same request id.
    Retry {
        /// Who retries.
        client: u8,
        /// Client clock offset.
        ahead: u8,
    },
    /// `check-then-act`: read the row and decide in the client.
    Read {
        /// Who reads.
        client: u8,
        /// Which resource.
        resource: u8,
        /// Client clock offset.
        ahead: u8,
    },
    /// `check-then-act`: write the decided lease unconditionally.
    Write {
        /// Who writes.
        client: u8,
    },
    /// Renew the held lease with its token.
    Renew {
        /// Who renews.
        client: u8,
        /// Client clock offset.
        ahead: u8,
    },
    /// Release the held lease.
    Release {
        /// Who releases.
        client: u8,
        /// Client clock offset.
        ahead: u8,
    },
    /// The client crashes and forgets everything; its lease is left to expire.
    Crash {
        /// Who crashes.
        client: u8,
    },
    /// The holder checks its lease, then stops for as long as the checker likes.
    Pause {
        /// Who pauses.
        client: u8,
    },
    /// The holder writes to the protected resource with its token.
    Use {
        /// Who writes.
        client: u8,
    },
}

impl core::fmt::Display for Action {
    /// A stable, parseable form: `tick`, or the client's letter, a verb and its arguments, e.g.
    /// `A acquire r0`, `B read r0 +1` (its clock one tick ahead), `A acquire r0 lost-reply`.
    /// Regression tests keep counterexamples in this form, so it must not change.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Some(client) = self.client() else {
            return f.write_str("tick");
        };
        let verb = match self {
            Self::Tick => unreachable!("the clock has no client"),
            Self::Acquire { .. } => "acquire",
            Self::Retry { .. } => "retry",
            Self::Read { .. } => "read",
            Self::Write { .. } => "write",
            Self::Renew { .. } => "renew",
            Self::Release { .. } => "release",
            Self::Crash { .. } => "crash",
            Self::Pause { .. } => "pause",
            Self::Use { .. } => "use",
        };
        write!(f, "{} {verb}", char::from(b'A' + client))?;
        if let Self::Acquire { resource, .. } | Self::Read { resource, .. } = self {
            write!(f, " r{resource}")?;
        }
        if let Self::Acquire { ahead, .. }
        | Self::Retry { ahead, .. }
        | Self::Read { ahead, .. }
        | Self::Renew { ahead, .. }
        | Self::Release { ahead, .. } = self
            && *ahead > 0
        {
            write!(f, " +{ahead}")?;
        }
        if let Self::Acquire {
            reply: Reply::Lost, ..
        } = self
        {
            f.write_str(" lost-reply")?;
        }
        Ok(())
    }
}

/// An [`Action`] text that does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseActionError(pub String);

impl core::fmt::Display for ParseActionError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "not an action: {:?}", self.0)
    }
}

impl std::error::Error for ParseActionError {}

impl core::str::FromStr for Action {
    type Err = ParseActionError;

    /// Parses the form [`Action`]'s `Display` writes.
    fn from_str(text: &str) -> Result<Self, ParseActionError> {
        let error = || ParseActionError(text.to_owned());
        let mut words = text.split_whitespace();
        let first = words.next().ok_or_else(error)?;
        if first == "tick" {
            return words
                .next()
                .is_none()
                .then_some(Self::Tick)
                .ok_or_else(error);
        }
        let client = match first.as_bytes() {
            [letter @ b'A'..=b'Z'] => letter - b'A',
            _ => return Err(error()),
        };
        let verb = words.next().ok_or_else(error)?;
        let mut resource = None;
        let mut ahead = 0;
        let mut reply = Reply::Delivered;
        for word in words {
            if let Some(r) = word.strip_prefix('r') {
                resource = Some(r.parse().map_err(|_| error())?);
            } else if let Some(a) = word.strip_prefix('+') {
                ahead = a.parse().map_err(|_| error())?;
            } else if word == "lost-reply" {
                reply = Reply::Lost;
            } else {
                return Err(error());
            }
        }
        let needs_resource = || resource.ok_or_else(error);
        Ok(match verb {
            "acquire" => Self::Acquire {
                client,
                resource: needs_resource()?,
                ahead,
                reply,
            },
            "retry" => Self::Retry { client, ahead },
            "read" => Self::Read {
                client,
                resource: needs_resource()?,
                ahead,
            },
            "write" => Self::Write { client },
            "renew" => Self::Renew { client, ahead },
            "release" => Self::Release { client, ahead },
            "crash" => Self::Crash { client },
            "pause" => Self::Pause { client },
            "use" => Self::Use { client },
            _ => return Err(error()),
        })
    }
}

impl Action {
    /// The client taking the step, or `None` for the clock.
    #[must_use]
    pub fn client(self) -> Option<u8> {
        match self {
            Self::Tick => None,
            Self::Acquire { client, .. }
            | Self::Retry { client, .. }
            | Self::Read { client, .. }
            | Self::Write { client }
            | Self::Renew { client, .. }
            | Self::Release { client, .. }
            | Self::Crash { client }
            | Self::Pause { client }
            | Self::Use { client } => Some(client),
        }
    }
}
