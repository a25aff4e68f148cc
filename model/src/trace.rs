//! Counterexamples as readable interleavings: one line per step with the actor, the action, the
//! clock and the store's rows after it.

use serde::Serialize;

use crate::action::{Action, Reply};
use crate::config::Protocol;
use crate::model::LeaseModel;
use crate::state::{Phase, Row, RowStatus, State};

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// 1 for the first step.
    pub index: usize,
    /// `"A"`, `"B"`, … for clients, `"clock"` for a tick.
    pub actor: String,
    /// What the actor did, and what came of it.
    pub action: String,
    /// The store's clock after the step.
    pub clock: u8,
    /// Every resource's row (and protected resource) after the step.
    pub store: String,
    /// The action in [`Action`]'s stable, parseable form, for replaying the path.
    pub raw: String,
}

/// The name of client `index`: A, B, C, …
#[must_use]
pub fn client_name(index: u8) -> String {
    char::from(b'A' + index).to_string()
}

fn resource_name(model: &LeaseModel, index: u8) -> String {
    if model.config().resources == 1 {
        "lock".to_owned()
    } else {
        format!("r{index}")
    }
}

/// Renders `path` (each state with the action taken from it; the last has none).
#[must_use]
pub fn render(model: &LeaseModel, path: &[(State, Option<Action>)]) -> Vec<Step> {
    path.windows(2)
        .enumerate()
        .filter_map(|(i, pair)| {
            let (before, action) = (&pair[0].0, pair[0].1?);
            let after = &pair[1].0;
            Some(Step {
                index: i + 1,
                actor: action
                    .client()
                    .map_or_else(|| "clock".to_owned(), client_name),
                action: describe(model, before, action, after),
                clock: after.clock,
                store: store_line(model, after),
                raw: action.to_string(),
            })
        })
        .collect()
}

/// The store after a step: each resource's row, and what its protected resource last accepted.
#[must_use]
pub fn store_line(model: &LeaseModel, state: &State) -> String {
    let parts: Vec<String> = (0..model.config().resources)
        .map(|r| {
            let resource = state.resource(r);
            let fence = if model.config().writes && resource.fence > 0 {
                format!(", resource last wrote by #{}", resource.fence)
            } else {
                String::new()
            };
            format!(
                "{}: {}{fence}",
                resource_name(model, r),
                row_text(resource.row)
            )
        })
        .collect();
    parts.join("; ")
}

fn row_text(row: Row) -> String {
    let owner = client_name(row.owner);
    match row.status {
        RowStatus::Vacant => "free".to_owned(),
        RowStatus::Active => format!("{owner} #{} until {}", row.token, row.expires_at),
        RowStatus::Released | RowStatus::ReleasedAfterExpiry => {
            format!("{owner} #{} released", row.token)
        }
        RowStatus::Evicted => format!("{owner} #{} evicted", row.token),
    }
}

fn clock_note(ahead: u8, before: &State) -> String {
    if ahead == 0 {
        String::new()
    } else {
        format!(" (its clock reads {})", before.clock + ahead)
    }
}

fn lease_text(phase: Phase) -> Option<String> {
    match phase {
        Phase::Holding {
            token, expires_at, ..
        } => Some(format!("#{token} until {expires_at}")),
        _ => None,
    }
}

/// What `action` did between `before` and `after`, in words.
fn describe(model: &LeaseModel, before: &State, action: Action, after: &State) -> String {
    let lock = |r: u8| resource_name(model, r);
    let phase_after = |c: u8| after.client(c).phase;
    match action {
        Action::Tick => "tick".to_owned(),
        Action::Acquire {
            client,
            resource,
            ahead,
            reply,
        } => {
            let note = clock_note(ahead, before);
            let result = match (reply, lease_text(phase_after(client))) {
                (Reply::Lost, _) => "reply lost".to_owned(),
                (Reply::Delivered, Some(lease)) => format!("granted {lease}"),
                (Reply::Delivered, None) => {
                    format!("busy ({})", row_text(before.resource(resource).row))
                }
            };
            format!("acquire {}{note} → {result}", lock(resource))
        }
        Action::Retry { client, ahead } => {
            let result = lease_text(phase_after(client))
                .map_or("busy".to_owned(), |l| format!("granted {l}"));
            format!(
                "retry the acquire, same request id{} → {result}",
                clock_note(ahead, before)
            )
        }
        Action::Read {
            client,
            resource,
            ahead,
        } => {
            let seen = match phase_after(client) {
                Phase::Deciding { .. } => "free: decides to take it",
                _ => "held",
            };
            format!(
                "read {}{} → {seen}",
                lock(resource),
                clock_note(ahead, before)
            )
        }
        Action::Write { client } => {
            let lease = lease_text(phase_after(client)).unwrap_or_default();
            format!("write its lease {lease} unconditionally")
        }
        Action::Renew { client, ahead } => {
            let result =
                lease_text(phase_after(client)).map_or("lost".to_owned(), |l| format!("now {l}"));
            format!("renew{} → {result}", clock_note(ahead, before))
        }
        Action::Release { client, ahead } => release_text(model, before, client, ahead),
        Action::Crash { .. } => "crash (forgets its lease)".to_owned(),
        Action::Pause { .. } => "check lease valid, then pause".to_owned(),
        Action::Use { client } => {
            let Phase::Holding { token, paused, .. } = before.client(client).phase else {
                return "write to the resource".to_owned();
            };
            let resumed = if paused { "resume and " } else { "" };
            let result = if matches!(phase_after(client), Phase::Holding { .. }) {
                "accepted"
            } else {
                "refused (stale token)"
            };
            format!("{resumed}write to the resource with #{token} → {result}")
        }
    }
}

fn release_text(model: &LeaseModel, before: &State, client: u8, ahead: u8) -> String {
    let Phase::Holding {
        resource, token, ..
    } = before.client(client).phase
    else {
        return "release".to_owned();
    };
    let note = clock_note(ahead, before);
    if model.config().protocol == Protocol::TokenlessRelease {
        let freed = row_text(before.resource(resource).row);
        return format!(
            "release {} by name, holding #{token}{note} → frees {freed}",
            resource_name(model, resource)
        );
    }
    format!("release #{token}{note}")
}
