//! [`HolderAction`]: one indivisible step of the holder model, and its stable text form.

use core::fmt;
use core::str::FromStr;

use crate::action::ParseActionError;
use crate::config::MAX_HOLDERS;

/// What becomes of a renewal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// The store decides it and its answer reaches the holder.
    Answered,
    /// It never reaches the store; the holder is told it failed.
    Dropped,
    /// The store decides it, but the answer is lost; the holder is told it failed.
    ReplyLost,
}

/// One indivisible step of the holder model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HolderAction {
    /// The store's clock advances one tick; holder `i`'s clock advances `SUB_TICKS + drift[i]`
    /// steps.
    Tick {
        /// Each holder's drift during this tick, in steps.
        drift: [i8; MAX_HOLDERS as usize],
    },
    /// The holder sends an acquire; the store decides it at once, the answer travels back.
    Acquire {
        /// Who asks.
        client: u8,
    },
    /// The holder sends a renewal with its token.
    Renew {
        /// Who renews.
        client: u8,
        /// What becomes of it.
        fate: Fate,
    },
    /// The reply the holder is waiting for arrives.
    Reply {
        /// Who receives it.
        client: u8,
    },
    /// The holder's keeper says the lease is lost: the holder forgets it.
    GiveUp {
        /// Who gives up.
        client: u8,
    },
}

impl HolderAction {
    /// The client taking the step, or `None` for the clock.
    #[must_use]
    pub fn client(self) -> Option<u8> {
        match self {
            Self::Tick { .. } => None,
            Self::Acquire { client }
            | Self::Renew { client, .. }
            | Self::Reply { client }
            | Self::GiveUp { client } => Some(client),
        }
    }
}

impl fmt::Display for HolderAction {
    /// A stable, parseable form: `tick`, `tick A-1 B+1` (holder clocks drifting during the tick),
    /// `A acquire`, `A renew`, `A renew dropped`, `A renew reply-lost`, `A reply`, `A give-up`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Tick { drift } => {
                f.write_str("tick")?;
                for (letter, d) in (b'A'..).zip(drift).filter(|(_, d)| *d != 0) {
                    write!(f, " {}{d:+}", char::from(letter))?;
                }
                Ok(())
            }
            Self::Acquire { client } => write!(f, "{} acquire", letter(client)),
            Self::Renew { client, fate } => {
                write!(f, "{} renew", letter(client))?;
                match fate {
                    Fate::Answered => Ok(()),
                    Fate::Dropped => f.write_str(" dropped"),
                    Fate::ReplyLost => f.write_str(" reply-lost"),
                }
            }
            Self::Reply { client } => write!(f, "{} reply", letter(client)),
            Self::GiveUp { client } => write!(f, "{} give-up", letter(client)),
        }
    }
}

fn letter(client: u8) -> char {
    char::from(b'A' + client)
}

impl FromStr for HolderAction {
    type Err = ParseActionError;

    /// Parses the form `Display` writes.
    fn from_str(text: &str) -> Result<Self, ParseActionError> {
        let error = || ParseActionError(text.to_owned());
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.first() == Some(&"tick") {
            let mut drift = [0; MAX_HOLDERS as usize];
            for word in &words[1..] {
                let (who, by) = word.split_at_checked(1).ok_or_else(error)?;
                let client = client(who).filter(|c| *c < MAX_HOLDERS).ok_or_else(error)?;
                drift[usize::from(client)] = by.parse().map_err(|_| error())?;
            }
            return Ok(Self::Tick { drift });
        }
        let client = words.first().and_then(|w| client(w)).ok_or_else(error)?;
        Ok(match words[1..] {
            ["acquire"] => Self::Acquire { client },
            ["renew"] => Self::Renew {
                client,
                fate: Fate::Answered,
            },
            ["renew", "dropped"] => Self::Renew {
                client,
                fate: Fate::Dropped,
            },
            ["renew", "reply-lost"] => Self::Renew {
                client,
                fate: Fate::ReplyLost,
            },
            ["reply"] => Self::Reply { client },
            ["give-up"] => Self::GiveUp { client },
            _ => return Err(error()),
        })
    }
}

fn client(word: &str) -> Option<u8> {
    match word.as_bytes() {
        [letter @ b'A'..=b'Z'] => Some(letter - b'A'),
        _ => None,
    }
}
